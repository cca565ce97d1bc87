//! End to end in headless Chromium, what people trip over: where the keyboard focus goes (and
//! where it stays when another connection of the person changes the conversation) and the
//! shortcuts, the IME's Enter, the new-messages button, the unread divider and the day
//! separators, links (and a `javascript:` one that is no link), light formatting, the
//! language (the browser's, the switch, remembered), and axe-core on the login and chat views,
//! light and dark, laptop and phone. Runs when COURIER_BROWSER_TESTS=1, like `browser.rs`.

#![cfg(unix)]

mod browser_harness;
mod common;

use browser_harness::*;
use common::Client as WsClient;
use common::Relay;
use fantoccini::{Client, Locator};
use serde_json::json;

/// The relay serving the release bundle, chromedriver, and the app's address.
async fn setup() -> Option<(Relay, ChromeDriver, String)> {
    let (relay, driver) = relay_with_bundle().await?;
    let url = format!("http://{}/", relay.addr);
    Some((relay, driver, url))
}

async fn wait_for_focus(browser: &Client, id: &str) {
    let id = id.to_owned();
    wait_until(browser, &format!("the focus on #{id}"), move |c| {
        let id = id.clone();
        async move { (focused(&c).await == id).then_some(()) }
    })
    .await;
}

/// Presses `key` on the window, with Alt (and Shift).
async fn shortcut(browser: &Client, key: &str, shift: bool) {
    let script = "window.dispatchEvent(new KeyboardEvent('keydown', \
                  { key: arguments[0], altKey: true, shiftKey: arguments[1], bubbles: true }));";
    browser
        .execute(script, vec![json!(key), json!(shift)])
        .await
        .unwrap();
}

/// Bob, a WebSocket client of the test's own, welcomed and in `lobby`.
async fn bob_in_lobby(relay: &Relay) -> WsClient {
    let mut bob = WsClient::connect(relay).await;
    bob.hello("bob").await;
    bob.join("lobby").await;
    bob
}

/// Says `text` in `room` as `client` and waits for its own copy, whatever else comes first
/// (the browser's typing notices, presence).
async fn say(client: &mut WsClient, room: &str, text: &str, cid: &str) {
    client
        .send(json!({"type": "say", "room": room, "text": text, "cid": cid}))
        .await;
    while client.recv().await["cid"] != cid {}
}

async fn js(browser: &Client, script: &str) -> serde_json::Value {
    browser.execute(script, vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_focus_follows_what_you_do_and_the_keyboard_moves_between_conversations() {
    let Some((relay, driver, url)) = setup().await else {
        return;
    };
    let alice = driver.browser().await;
    log_in(&alice, &url, "alice").await;
    // Signed in with no conversation open: the room field.
    wait_for_focus(&alice, "room-name").await;
    join(&alice, "lobby").await;
    wait_for_focus(&alice, "composer").await;
    join(&alice, "dev").await;
    wait_for_focus(&alice, "composer").await;

    // Alt+Up: the conversation above; Alt+Shift+Down: the next one with unread messages.
    shortcut(&alice, "ArrowUp", false).await;
    wait_for_text(&alice, "#conversation-title", "lobby").await;
    let mut bob = WsClient::connect(&relay).await;
    bob.hello("bob").await;
    bob.join("dev").await;
    say(&mut bob, "dev", "news in dev", "b1").await;
    wait_until(&alice, "dev's unread badge", |c| async move {
        c.find(Locator::Css(".room-entry[data-room='dev'] .unread"))
            .await
            .ok()
    })
    .await;
    shortcut(&alice, "ArrowDown", true).await;
    wait_for_text(&alice, "#conversation-title", "dev").await;
    wait_for_message(&alice, "news in dev", "bob").await;

    // The IME's Enter (composing) does not send; a plain Enter does.
    let composer = alice.find(Locator::Css("#composer")).await.unwrap();
    composer.send_keys("你好").await.unwrap();
    js(
        &alice,
        "document.getElementById('composer').dispatchEvent(new KeyboardEvent('keydown', \
         { key: 'Enter', isComposing: true, bubbles: true, cancelable: true }));",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let value = js(&alice, "return document.getElementById('composer').value;").await;
    assert_eq!(value, "你好", "an Enter while composing sent the message");
    composer.send_keys("\u{E007}").await.unwrap(); // Enter
    wait_for_message(&alice, "你好", "alice").await;

    // Leaving: the focus goes to the conversation that opens instead.
    click(&alice, "#leave-room").await;
    wait_for_text(&alice, "#conversation-title", "lobby").await;
    wait_for_focus(&alice, "composer").await;

    // A refused name: back to the name field.
    let other = driver.browser().await;
    other.goto(&url).await.unwrap();
    let name = wait_until(&other, "the name field", |c| async move {
        c.find(Locator::Css("#name")).await.ok()
    })
    .await;
    name.send_keys("ALICE").await.unwrap();
    click(&other, "#login").await;
    wait_for_text(&other, "#login-error", "signed in elsewhere").await;
    wait_for_focus(&other, "name").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_messages_show_a_button_a_divider_and_their_day() {
    let Some((relay, driver, url)) = setup().await else {
        return;
    };
    let alice = driver.browser().await;
    log_in(&alice, &url, "alice").await;
    join(&alice, "lobby").await;
    let mut bob = bob_in_lobby(&relay).await;
    for i in 1..=40 {
        say(&mut bob, "lobby", &format!("line {i}"), &format!("c{i}")).await;
    }
    wait_for_message(&alice, "line 40", "bob").await;
    let day = js(
        &alice,
        "return document.querySelector('.day-separator').textContent;",
    )
    .await;
    assert_eq!(day, "Today");

    // Scrolled up, three more come: the button counts them and goes down to them.
    js(&alice, "document.getElementById('messages').scrollTop = 0;").await;
    wait_until(&alice, "the list to leave the bottom", |c| async move {
        let top = js(&c, "return document.getElementById('messages').scrollTop;").await;
        (top.as_f64() == Some(0.0)).then_some(())
    })
    .await;
    for i in 41..=43 {
        say(&mut bob, "lobby", &format!("line {i}"), &format!("c{i}")).await;
    }
    let button = wait_until(&alice, "#new-messages", |c| async move {
        let button = c.find(Locator::Css("#new-messages")).await.ok()?;
        (button.attr("data-count").await.ok()?? == "3").then_some(button)
    })
    .await;
    button.click().await.unwrap();
    let at_bottom = "const l = document.getElementById('messages'); \
                     return l.scrollHeight - l.scrollTop - l.clientHeight < 80;";
    wait_until(&alice, "the list at the bottom", |c| async move {
        (js(&c, at_bottom).await == json!(true)).then_some(())
    })
    .await;
    assert!(alice.find(Locator::Css("#new-messages")).await.is_err());

    // Scrolled up, our own message takes us down to it.
    js(&alice, "document.getElementById('messages').scrollTop = 0;").await;
    send(&alice, "mine").await;
    wait_for_message(&alice, "mine", "alice").await;
    wait_until(&alice, "the list at our message", |c| async move {
        (js(&c, at_bottom).await == json!(true)).then_some(())
    })
    .await;

    // Away in another conversation, two come: back, "New messages" is above the first.
    click(&alice, ".user-entry[data-user='bob']").await;
    wait_for_text(&alice, "#conversation-title", "bob").await;
    say(&mut bob, "lobby", "while away 1", "w1").await;
    say(&mut bob, "lobby", "while away 2", "w2").await;
    wait_until(&alice, "lobby's unread badge", |c| async move {
        c.find(Locator::Css(".room-entry[data-room='lobby'] .unread"))
            .await
            .ok()
    })
    .await;
    click(&alice, ".room-entry[data-room='lobby']").await;
    wait_for_message(&alice, "while away 2", "bob").await;
    let after = js(
        &alice,
        "return document.getElementById('unread-divider').nextElementSibling\
         .querySelector('.message-text').textContent;",
    )
    .await;
    assert_eq!(after, "while away 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_open_in_a_new_tab_and_other_schemes_stay_text() {
    let Some((relay, driver, url)) = setup().await else {
        return;
    };
    let alice = driver.browser().await;
    log_in(&alice, &url, "alice").await;
    join(&alice, "lobby").await;
    let mut bob = bob_in_lobby(&relay).await;
    let text = "see http://127.0.0.1:9/x, not javascript:alert(1) **bold** `code <b>`";
    say(&mut bob, "lobby", text, "l1").await;
    wait_until(&alice, "the message with a link", |c| async move {
        c.find(Locator::Css(".message-text a")).await.ok()
    })
    .await;
    let facts = js(
        &alice,
        "const t = document.querySelector('.message[data-from=bob] .message-text'); \
         return [...t.querySelectorAll('a')].map(a => [a.getAttribute('href'), a.target, a.rel]) \
           .concat([[t.querySelector('strong').textContent, t.querySelector('code').textContent, \
                     String(t.querySelectorAll('b').length)]]);",
    )
    .await;
    assert_eq!(
        facts,
        json!([
            ["http://127.0.0.1:9/x", "_blank", "noopener noreferrer"],
            ["bold", "code <b>", "0"]
        ])
    );
    // The link opens a new tab; the javascript: text is no link, and runs nothing.
    let before = alice.windows().await.unwrap().len();
    click(&alice, ".message-text a").await;
    wait_until(&alice, "a new tab", |c| async move {
        (c.windows().await.ok()?.len() == before + 1).then_some(())
    })
    .await;
    let alerted = js(
        &alice,
        "window.alert = () => { window.alerted = true; }; \
         document.querySelector('.message-text').click(); return !!window.alerted;",
    )
    .await;
    assert_eq!(alerted, json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_follows_the_browser_then_the_switch_and_is_remembered() {
    let Some((_relay, driver, url)) = setup().await else {
        return;
    };
    let browser = driver.browser_in("zh-CN").await;
    browser.goto(&url).await.unwrap();
    wait_for_text(&browser, "#login", "开始聊天").await;
    assert_eq!(
        js(&browser, "return document.documentElement.lang;").await,
        "zh-CN"
    );

    // Switched to English, which a reload keeps.
    let switch = browser.find(Locator::Css("#language")).await.unwrap();
    switch.select_by_value("en").await.unwrap();
    wait_for_text(&browser, "#login", "Start chatting").await;
    browser.refresh().await.unwrap();
    wait_for_text(&browser, "#login", "Start chatting").await;
    assert_eq!(
        js(&browser, "return document.documentElement.lang;").await,
        "en"
    );

    // Signed in, the switch in the sidebar: the whole view follows, the status too.
    log_in(&browser, &url, "lin").await;
    join(&browser, "lobby").await;
    let switch = browser
        .find(Locator::Css("#sidebar #language"))
        .await
        .unwrap();
    switch.select_by_value("zh-CN").await.unwrap();
    wait_for_text(&browser, "#logout", "退出").await;
    wait_for_text(&browser, "#status", "已连接").await;
    wait_for_text(&browser, "#rooms-heading", "聊天室").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_nothing_serious_light_and_dark_laptop_and_phone() {
    let Some((relay, driver, url)) = setup().await else {
        return;
    };
    let browser = driver.browser().await;
    let mut bob = bob_in_lobby(&relay).await;
    let mut found = Vec::new();
    for view in ["login", "chat"] {
        if view == "chat" {
            phone(&browser, false).await;
            log_in(&browser, &url, "alice").await;
            join(&browser, "lobby").await;
            say(&mut bob, "lobby", "hello https://example.com `x`", "a1").await;
            wait_for_message(&browser, "hello https://example.com x", "bob").await;
        } else {
            browser.goto(&url).await.unwrap();
            wait_until(&browser, "the login form", |c| async move {
                c.find(Locator::Css("#login")).await.ok()
            })
            .await;
        }
        for dark in [false, true] {
            for on_phone in [false, true] {
                color_scheme(&browser, dark).await;
                phone(&browser, on_phone).await;
                for v in axe_violations(&browser).await {
                    found.push(format!("{view}, dark {dark}, phone {on_phone}: {v}"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "axe-core, serious or critical:\n{}",
        found.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_and_a_second_browser_of_one_person_stay_connected_together() {
    let Some((relay, driver, url)) = setup().await else {
        return;
    };
    let laptop = driver.browser().await;
    log_in(&laptop, &url, "alice").await;
    join(&laptop, "lobby").await;
    let first_tab = laptop.window().await.unwrap();
    // A second tab of the same browser takes the kept session up, beside the first.
    let second_tab = laptop.new_window(true).await.unwrap().handle;
    laptop.switch_to_window(second_tab.clone()).await.unwrap();
    laptop.goto(&url).await.unwrap();
    wait_for_state(&laptop, "connected").await;
    wait_for_text(&laptop, "#conversation-title", "lobby").await;
    // A second browser (another device): the name is in use; "that's me" joins it.
    let phone_browser = driver.browser().await;
    phone_browser.goto(&url).await.unwrap();
    let name = wait_until(&phone_browser, "the name field", |c| async move {
        c.find(Locator::Css("#name")).await.ok()
    })
    .await;
    name.send_keys("alice").await.unwrap();
    click(&phone_browser, "#login").await;
    wait_for_text(&phone_browser, "#login-error", "signed in elsewhere").await;
    click(&phone_browser, "#attach").await;
    wait_for_state(&phone_browser, "connected").await;
    // Its rooms come to it: lobby, joined from the laptop.
    wait_until(&phone_browser, "lobby in the sidebar", |c| async move {
        c.find(Locator::Css(".room-entry.joined[data-room='lobby']"))
            .await
            .ok()
    })
    .await;

    // Bob sees alice once, and his private message reaches all three.
    let mut bob = WsClient::connect(&relay).await;
    bob.hello("bob").await;
    let joined = bob.join("lobby").await;
    assert_eq!(joined["members"], json!(["alice", "bob"]), "{joined}");
    bob.send(json!({"type": "dm", "to": "alice", "text": "to every alice"}))
        .await;
    for window in [first_tab.clone(), second_tab.clone()] {
        laptop.switch_to_window(window).await.unwrap();
        wait_until(&laptop, "bob's unread badge", |c| async move {
            c.find(Locator::Css(
                ".user-entry[data-user='bob'] .unread, .dm-entry[data-user='bob'] .unread",
            ))
            .await
            .ok()
        })
        .await;
        assert_eq!(status_state(&laptop).await, "connected");
    }
    wait_until(&phone_browser, "bob's unread badge", |c| async move {
        c.find(Locator::Css(".user-entry[data-user='bob'] .unread"))
            .await
            .ok()
    })
    .await;
    // Read on the phone: the laptop's tabs no longer count it.
    click(&phone_browser, ".user-entry[data-user='bob']").await;
    wait_for_message(&phone_browser, "to every alice", "bob").await;
    for window in [first_tab, second_tab] {
        laptop.switch_to_window(window).await.unwrap();
        wait_until(&laptop, "bob's badge gone", |c| async move {
            let badge = c
                .find(Locator::Css(".user-entry[data-user='bob'] .unread"))
                .await;
            badge.is_err().then_some(())
        })
        .await;
    }
    // Still three connections, nobody signed out.
    assert_eq!(status_state(&phone_browser).await, "connected");
}

/// Another connection of the same person leaves the open room while this page's person types
/// in the protect form: the conversation closes here too, and the focus stays in the form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_closed_by_another_connection_leaves_the_focus_where_you_type() {
    let Some((relay, driver, url)) = setup().await else {
        return;
    };
    let browser = driver.browser().await;
    log_in(&browser, &url, "alice").await;
    join(&browser, "lobby").await;
    wait_for_focus(&browser, "composer").await;
    click(&browser, "#protect").await;
    wait_for_focus(&browser, "protect-password").await;
    let (mut other, _) = WsClient::attach(&relay, "alice").await;
    other.send(json!({"type": "leave", "room": "lobby"})).await;
    wait_until(&browser, "lobby gone from the sidebar", |c| async move {
        let entry = c
            .find(Locator::Css(".room-entry.joined[data-room='lobby']"))
            .await;
        entry.is_err().then_some(())
    })
    .await;
    // The page rendered the change; give its effects a moment more.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(focused(&browser).await, "protect-password");
}

/// The status bar's state.
async fn status_state(browser: &Client) -> String {
    let state = js(
        browser,
        "return document.getElementById('status').dataset.state;",
    )
    .await;
    state.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_a_banner_counts_down_nobody_shows_online_and_retry_now_reconnects() {
    let Some((relay, driver, _)) = setup().await else {
        return;
    };
    let net = Proxy::start(relay.addr).await;
    let url = format!("http://{}/", net.addr);
    let alice = driver.browser().await;
    log_in(&alice, &url, "alice").await;
    join(&alice, "lobby").await;
    let _bob = bob_in_lobby(&relay).await;
    wait_until(&alice, "bob online", |c| async move {
        c.find(Locator::Css(".user-entry[data-user='bob']"))
            .await
            .ok()
    })
    .await;

    // The relay out of reach: a banner with the countdown, and nobody shown as online.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    net.point_at(dead.local_addr().unwrap());
    drop(dead);
    net.cut();
    wait_for_text(&alice, "#connection-banner", "Trying again in").await;
    assert!(alice.find(Locator::Css(".user-entry")).await.is_err());
    assert!(
        alice
            .find(Locator::Css(".member .presence.online"))
            .await
            .is_err()
    );
    // The relay back: Retry now does not wait for the countdown. The first delays are under
    // a second: wait for one of two seconds or more (the third failure on), so that the page
    // does not come back by itself before the click.
    wait_until(&alice, "a countdown of 2 s or more", |c| async move {
        let shown = c
            .find(Locator::Css("#connection-banner"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let secs: String = shown.chars().filter(char::is_ascii_digit).collect();
        (shown.contains("Trying again in") && secs.parse::<u64>().ok()? >= 2).then_some(())
    })
    .await;
    net.point_at(relay.addr);
    click(&alice, "#retry-now").await;
    wait_for_state(&alice, "connected").await;
    assert!(
        alice
            .find(Locator::Css("#connection-banner"))
            .await
            .is_err()
    );

    // The browser's own offline event: the banner says so; online again reconnects at once.
    cdp(&alice, "Network.enable", json!({})).await;
    let conditions = |offline: bool| json!({ "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 });
    cdp(&alice, "Network.emulateNetworkConditions", conditions(true)).await;
    net.cut();
    wait_for_text(&alice, "#connection-banner", "device is offline").await;
    cdp(
        &alice,
        "Network.emulateNetworkConditions",
        conditions(false),
    )
    .await;
    wait_for_state(&alice, "connected").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_sign_out_stays_on_one_line_and_the_members_leave_send_free() {
    let Some((_relay, driver, url)) = setup().await else {
        return;
    };
    let browser = driver.browser().await;
    log_in(&browser, &url, "a-rather-long-name").await;
    join(&browser, "lobby").await;
    phone(&browser, true).await;
    let one_line = js(
        &browser,
        "const b = document.getElementById('logout'); \
         const r = document.createRange(); r.selectNodeContents(b); return r.getClientRects().length;",
    )
    .await;
    assert_eq!(one_line, json!(1), "Sign out wraps onto two lines");
    click(&browser, "#members-toggle").await;
    let send_free = js(
        &browser,
        "const s = document.getElementById('send').getBoundingClientRect(); \
         const at = document.elementFromPoint(s.x + s.width / 2, s.y + s.height / 2); \
         return at && at.closest('#send') !== null;",
    )
    .await;
    assert_eq!(send_free, json!(true), "the members overlay covers Send");
    // Escape closes it, back on its toggle.
    js(
        &browser,
        "document.getElementById('members').dispatchEvent(new KeyboardEvent('keydown', \
         { key: 'Escape', bubbles: true }));",
    )
    .await;
    wait_for_focus(&browser, "members-toggle").await;
}
