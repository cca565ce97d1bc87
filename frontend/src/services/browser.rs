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

/// `ts` (milliseconds since the epoch) as local "HH:MM" (UTC natively).
pub fn hh_mm(ts: u64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let minutes = ts / 60_000;
        format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
    }
}

/// `ts` as a full local date and time, for a tooltip.
pub fn full_time(ts: u64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
        String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        hh_mm(ts)
    }
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
