//! Small facts from the browser: the clock, local time of day, the relay's address, the last
//! name used. Natively (tests) each has a plain stand-in.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() as u64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// Uniform in [0, 1).
pub fn random() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Math::random()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0.5
    }
}

/// `ts` (milliseconds since the epoch) as the local time of day, hours and minutes, the way
/// `locale` writes it ("14:05", "2:05 PM", "14:05" …); "HH:MM" in UTC natively.
pub fn time_of_day(ts: u64, locale: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let options = js_options(&[("hour", "2-digit"), ("minute", "2-digit")]);
        String::from(date(ts).to_locale_time_string_with_options(locale, &options))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = locale;
        let minutes = ts / 60_000;
        format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
    }
}

/// `ts` as a full local date and time the way `locale` writes it, for a tooltip.
pub fn full_time(ts: u64, locale: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let options = js_options(&[("dateStyle", "full"), ("timeStyle", "short")]);
        String::from(date(ts).to_locale_string(locale, &options))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        time_of_day(ts, locale)
    }
}

/// `ts`'s local calendar date, as days since 1970-01-01: two messages of one day have the
/// same number.
pub fn local_day(ts: u64) -> u64 {
    #[cfg(target_arch = "wasm32")]
    let east_ms = (date(ts).get_timezone_offset() * -60_000.0) as i64;
    #[cfg(not(target_arch = "wasm32"))]
    let east_ms = 0;
    ts.saturating_add_signed(east_ms) / 86_400_000
}

/// `ts`'s local date the way `locale` writes it, with the weekday ("Monday, 30 November
/// 2026", "2026年11月30日星期一").
pub fn long_date(ts: u64, locale: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let options = js_options(&[("dateStyle", "full")]);
        String::from(date(ts).to_locale_date_string(locale, &options))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = locale;
        format!("day {}", local_day(ts))
    }
}

#[cfg(target_arch = "wasm32")]
fn date(ts: u64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64))
}

/// An `Intl` options object.
#[cfg(target_arch = "wasm32")]
fn js_options(pairs: &[(&str, &str)]) -> wasm_bindgen::JsValue {
    let object = js_sys::Object::new();
    for (key, value) in pairs {
        let _ = js_sys::Reflect::set(&object, &(*key).into(), &(*value).into());
    }
    object.into()
}

/// The browser's preferred languages, most preferred first (`navigator.languages`).
pub fn browser_languages() -> Vec<String> {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window()
            .map(|w| w.navigator().languages())
            .map(|list| list.iter().filter_map(|l| l.as_string()).collect())
            .unwrap_or_default()
    }
    #[cfg(not(target_arch = "wasm32"))]
    Vec::new()
}

const LANG_KEY: &str = "courier.lang";

/// The language the user picked on this browser, if they picked one.
pub fn load_lang() -> Option<String> {
    super::storage::load(LANG_KEY)
}

/// Remembers the language picked.
pub fn save_lang(code: &str) {
    super::storage::save(LANG_KEY, code);
}

/// Says the page's language (`<html lang>`), for screen readers and fonts.
pub fn set_page_lang(code: &str) {
    #[cfg(target_arch = "wasm32")]
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("lang", code);
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = code;
}

/// The relay's WebSocket: this page's host, path `/ws`, `wss:` on an `https:` page.
pub fn ws_url() -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let location = web_sys::window().expect("a window").location();
        let secure = location.protocol().is_ok_and(|p| p == "https:");
        let host = location.host().unwrap_or_else(|_| "127.0.0.1:8080".into());
        format!("{}://{host}/ws", if secure { "wss" } else { "ws" })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        "ws://127.0.0.1:8080/ws".to_owned()
    }
}

const NAME_KEY: &str = "courier.name";

/// The name last signed in with on this browser, to pre-fill the login form.
pub fn load_name() -> String {
    super::storage::load(NAME_KEY).unwrap_or_default()
}

/// Remembers the name signed in with.
pub fn save_name(name: &str) {
    super::storage::save(NAME_KEY, name);
}

/// Records on the page's root element, once, how many milliseconds after navigation began
/// `what` happened (`data-ready-ms`, `data-welcome-ms`): the start-up figures the browser
/// test reads for docs/BENCHMARKS.md.
pub fn mark_time(what: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        let Some(window) = web_sys::window() else {
            return;
        };
        let (Some(performance), Some(root)) = (
            window.performance(),
            window.document().and_then(|d| d.document_element()),
        ) else {
            return;
        };
        let attribute = format!("data-{what}-ms");
        if !root.has_attribute(&attribute) {
            // Whole milliseconds as an integer: formatting the float would bring Rust's float
            // formatting (about 5 KB) into the bundle for this one number.
            let ms = (performance.now() + 0.5) as u64;
            let _ = root.set_attribute(&attribute, &ms.to_string());
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = what;
}

/// Logs a warning to the browser console (stderr natively).
pub fn warn(text: &str) {
    #[cfg(target_arch = "wasm32")]
    web_sys::console::warn_1(&text.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{text}");
}
