//! End to end in headless Chromium: another person's edits and deletions reach the page live,
//! after a reload (history in its state now), and after a resume (a re-join with `after`
//! and the `changes` after the highest revision held), in a room and in a private
//! conversation. Runs when COURIER_BROWSER_TESTS=1, like `browser.rs`.

#![cfg(unix)]

mod browser_harness;
mod common;

use browser_harness::*;
use common::Client as WsClient;
use common::Relay;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// Sends `frame` as `client` with cid `cid` and waits for what answers it (a copy or an
/// error carrying the cid), whatever else comes first.
async fn ask(client: &mut WsClient, mut frame: Value, cid: &str) -> Value {
    frame["cid"] = json!(cid);
    client.send(frame).await;
    loop {
        let got = client.recv().await;
        if got["cid"] == cid {
            return got;
        }
    }
}

/// The text the page shows for the message with `seq` in the open conversation, and whether
/// it is marked edited.
async fn shown(browser: &Client, seq: u64) -> Option<(String, bool)> {
    let row = browser
        .find(Locator::Css(&format!("#messages li[data-seq='{seq}']")))
        .await
        .ok()?;
    let text = row
        .find(Locator::Css(".message-text"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let edited = row.find(Locator::Css(".edited")).await.is_ok();
    Some((text, edited))
}

async fn wait_shown(browser: &Client, seq: u64, text: &str, edited: bool) {
    let want = (text.to_owned(), edited);
    wait_until(browser, &format!("message {seq} as {want:?}"), |c| {
        let want = want.clone();
        async move { (shown(&c, seq).await? == want).then_some(()) }
    })
    .await;
}

const DELETED: &str = "This message was deleted.";

/// Cuts the page off: its connection dropped, and new ones refused until [`restore`].
async fn cut_off(net: &Proxy, browser: &Client) {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    net.point_at(dead.local_addr().unwrap());
    drop(dead);
    net.cut();
    wait_until(browser, "the page cut off", |c| async move {
        c.find(Locator::Css("#connection-banner")).await.ok()
    })
    .await;
}

/// The relay in reach again, and the page reconnected (without waiting for its backoff).
async fn restore(net: &Proxy, relay: &Relay, browser: &Client) {
    net.point_at(relay.addr);
    click(browser, "#retry-now").await;
    wait_for_state(browser, "connected").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_deletions_show_live_after_a_reload_and_after_a_resume() {
    let Some((relay, driver)) = relay_with_bundle().await else {
        return;
    };
    let net = Proxy::start(relay.addr).await;
    let url = format!("http://{}/", net.addr);
    let alice = driver.browser().await;
    log_in(&alice, &url, "alice").await;
    join(&alice, "lobby").await;
    let mut bob = WsClient::connect(&relay).await;
    bob.hello("bob").await;
    bob.join("lobby").await;
    for (i, text) in ["ship it?", "typo hree", "third"].iter().enumerate() {
        bob.say("lobby", text, &format!("s{i}")).await;
    }
    wait_for_message(&alice, "third", "bob").await;

    // Live: an edit and a deletion.
    let edit =
        |seq: u64, text: &str| json!({"type": "edit", "room": "lobby", "seq": seq, "text": text});
    let delete = |seq: u64| json!({"type": "delete", "room": "lobby", "seq": seq});
    assert_eq!(
        ask(&mut bob, edit(2, "typo here"), "e1").await["type"],
        "changed"
    );
    assert_eq!(ask(&mut bob, delete(3), "d1").await["type"], "changed");
    wait_shown(&alice, 2, "typo here", true).await;
    wait_shown(&alice, 3, DELETED, false).await;
    wait_shown(&alice, 1, "ship it?", false).await;

    // A reload shows the messages as they are now.
    alice.refresh().await.unwrap();
    wait_for_state(&alice, "connected").await;
    click(&alice, ".room-entry[data-room='lobby']").await;
    wait_shown(&alice, 2, "typo here", true).await;
    wait_shown(&alice, 3, DELETED, false).await;

    // Cut off, the page misses an edit of a message it holds and a new message: back, it
    // re-joins after the last seq it has and asks what changed after the last rev it saw.
    cut_off(&net, &alice).await;
    assert_eq!(
        ask(&mut bob, edit(1, "ship it!"), "e2").await["type"],
        "changed"
    );
    bob.say("lobby", "fourth", "s4").await;
    restore(&net, &relay, &alice).await;
    wait_for_message(&alice, "fourth", "bob").await;
    wait_shown(&alice, 1, "ship it!", true).await;
    wait_shown(&alice, 2, "typo here", true).await;

    // A private conversation: an edit made while the page was cut off reaches it too.
    let dm = ask(
        &mut bob,
        json!({"type": "dm", "to": "alice", "text": "psst"}),
        "m1",
    )
    .await;
    let seq = dm["seq"].as_u64().unwrap();
    click(&alice, ".user-entry[data-user='bob']").await;
    wait_for_message(&alice, "psst", "bob").await;
    cut_off(&net, &alice).await;
    let edited = ask(
        &mut bob,
        json!({"type": "edit", "with": "alice", "seq": seq, "text": "psst!"}),
        "e3",
    )
    .await;
    assert_eq!(edited["type"], "changed");
    restore(&net, &relay, &alice).await;
    wait_shown(&alice, seq, "psst!", true).await;
}
