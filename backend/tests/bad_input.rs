//! Bad input of every kind gets a clear error and the connection stays, except where the
//! contract says it closes. Includes the handshake and frame vectors of the seed tutorials.

mod common;

use std::time::Duration;

use common::{Client, Ended, Relay, header, parse_response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// After a refused frame, the connection still works.
async fn still_works(c: &mut Client) {
    c.send(json!({"type":"users"})).await;
    c.recv_type("users").await;
}

#[tokio::test]
async fn junk_non_objects_and_unknown_types_are_bad_requests() {
    let relay = Relay::start().await;
    let mut c = relay.user("alice").await;
    c.join("lobby").await;
    for text in [
        "hello",
        "{not json",
        "",
        "[]",
        "[1,2]",
        "42",
        "null",
        "true",
        r#""a string""#,
        "{}",
        r#"{"type":"nope"}"#,
        r#"{"type":4}"#,
        r#"{"type":null}"#,
        r#"{"type":"join"}"#,
        r#"{"type":"join","room":5}"#,
        r#"{"type":"typing"}"#,
        r#"{"type":"typing","room":"a","to":"b"}"#,
        r#"{"type":"say","room":"lobby","text":""}"#,
    ] {
        c.send_text(text).await;
        let err = c.recv_error("bad_request").await;
        assert!(err.get("cid").is_none(), "{text}: {err}");
    }
    still_works(&mut c).await;
}

#[tokio::test]
async fn a_bad_frame_with_a_cid_gets_it_back() {
    let relay = Relay::start().await;
    let mut c = relay.user("alice").await;
    c.send_text(r#"{"type":"nope","cid":"k1"}"#).await;
    assert_eq!(c.recv_error("bad_request").await["cid"], "k1");
    c.send_text(r#"{"type":"say","cid":"k2"}"#).await;
    assert_eq!(c.recv_error("bad_request").await["cid"], "k2");
}

#[tokio::test]
async fn a_cid_over_64_characters_is_a_bad_request() {
    let relay = Relay::start().await;
    let mut c = relay.user("alice").await;
    c.join("lobby").await;
    let long = "x".repeat(65);
    c.send(json!({"type":"say","room":"lobby","text":"hi","cid":long}))
        .await;
    // Refused, and still echoed: the error is about that frame.
    assert_eq!(c.recv_error("bad_request").await["cid"], long.as_str());
    let cid = "字".repeat(64);
    assert_eq!(c.say("lobby", "hi", &cid).await["seq"], 1);
}

#[tokio::test]
async fn binary_frames_are_unsupported_before_and_after_hello() {
    let relay = Relay::start().await;
    let mut c = Client::connect(&relay).await;
    c.send_binary(vec![1, 2, 3]).await;
    c.recv_error("unsupported").await;
    c.hello("alice").await;
    c.send_binary(b"{\"type\":\"users\"}".to_vec()).await;
    c.recv_error("unsupported").await;
    still_works(&mut c).await;
}

#[tokio::test]
async fn texts_over_4000_characters_are_too_long() {
    let relay = Relay::start().await;
    let mut alice = relay.user("alice").await;
    let mut bob = relay.user("bob").await;
    alice.join("lobby").await;
    alice
        .send(json!({"type":"say","room":"lobby","text":"a".repeat(4001),"cid":"t1"}))
        .await;
    assert_eq!(alice.recv_error("too_long").await["cid"], "t1");
    alice
        .send(json!({"type":"dm","to":"bob","text":"é".repeat(4001),"cid":"t2"}))
        .await;
    assert_eq!(alice.recv_error("too_long").await["cid"], "t2");
    // 4000 characters, 12000 bytes, are fine.
    let text = "字".repeat(4000);
    assert_eq!(alice.say("lobby", &text, "ok").await["text"], text.as_str());
    alice
        .send(json!({"type":"dm","to":"bob","text":text}))
        .await;
    alice.recv_type("message").await;
    assert_eq!(bob.recv_type("message").await["seq"], 1);
}

#[tokio::test]
async fn a_message_over_64_kib_closes_with_1009() {
    let relay = Relay::start().await;
    let mut c = relay.user("alice").await;
    // Exactly 64 KiB is allowed (and answered: it is not a valid frame).
    let padding = 65536 - r#"{"type":"users","pad":""}"#.len();
    let fits = format!(r#"{{"type":"users","pad":"{}"}}"#, "x".repeat(padding));
    assert_eq!(fits.len(), 65536);
    c.send_text(&fits).await;
    c.recv_type("users").await;
    // One byte more is not.
    let over = format!(r#"{{"type":"users","pad":"{}"}}"#, "x".repeat(padding + 1));
    c.send_text(&over).await;
    assert_eq!(c.ended(Duration::from_secs(5)).await, Ended::Close(1009));
}

#[tokio::test]
async fn a_fragmented_message_over_64_kib_closes_with_1009_too() {
    let relay = Relay::start().await;
    let (mut tcp, _) = raw_handshake(&relay, "dGhlIHNhbXBsZSBub25jZQ==").await;
    // Two 40 KiB fragments of one text message.
    let part = vec![b'x'; 40 * 1024];
    tcp.write_all(&masked_frame(0x01, false, &part))
        .await
        .unwrap();
    tcp.write_all(&masked_frame(0x00, true, &part))
        .await
        .unwrap();
    let (opcode, payload) = read_frame(&mut tcp).await;
    assert_eq!(opcode, 0x8, "a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1009);
}

/// Writes a WebSocket handshake by hand on a new TCP connection (seed 003's headers) and reads
/// the response head.
async fn raw_handshake(relay: &Relay, key: &str) -> (TcpStream, Vec<(String, String)>) {
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        relay.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let (status, headers, _) = parse_response(&head);
    assert_eq!(status, 101);
    (tcp, headers)
}

/// A masked client frame, built as the seed tutorials describe.
fn masked_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads one unmasked server frame: its opcode and payload.
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let read = async {
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).await.unwrap();
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                tcp.read_exact(&mut n).await.unwrap();
                u16::from_be_bytes(n) as usize
            }
            127 => {
                let mut n = [0u8; 8];
                tcp.read_exact(&mut n).await.unwrap();
                u64::from_be_bytes(n) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x0f, payload)
    };
    tokio::time::timeout(common::WAIT, read)
        .await
        .expect("a frame in time")
}

/// Unmasks a client frame the way the seed tutorials decode it (7-bit length only).
fn seed_decode(frame: &[u8]) -> String {
    let len = (frame[1] & 0x7f) as usize;
    let mask = &frame[2..6];
    let payload: Vec<u8> = frame[6..6 + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    String::from_utf8(payload).unwrap()
}

#[tokio::test]
async fn the_seed_handshake_and_frame_vectors() {
    let relay = Relay::start().await;
    // Seed 003's handshake example.
    let (mut tcp, headers) = raw_handshake(&relay, "60jj9YDlrvPB+DzLmVJzcg==").await;
    assert_eq!(
        header(&headers, "sec-websocket-accept"),
        Some("Cx7gYudkmGmF8rMFP1W1HbLkWRA=")
    );
    assert!(
        header(&headers, "upgrade")
            .unwrap()
            .eq_ignore_ascii_case("websocket")
    );

    // Seeds 000–002's masked text frames: none is a Courier frame; each gets an error and the
    // connection stays.
    let vectors: [(&[u8], &str); 3] = [
        (b"\x81\x83\xceH\xb6\x85\xffz\x85", "123"),
        (
            b"\x81\x8c\xc2J\xb3\x0c\xaa/\xdf`\xadj\xc4c\xb0&\xd7-",
            "hello world!",
        ),
        (b"\x81\x89\xbc\xb8,\xb5Y6\xa5P\x12\x0b\xc8\x0f:", "厉害了"),
    ];
    for (frame, text) in vectors {
        assert_eq!(seed_decode(frame), text);
        tcp.write_all(frame).await.unwrap();
        let (opcode, payload) = read_frame(&mut tcp).await;
        assert_eq!(opcode, 0x1, "a text frame");
        let error: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(error["type"], "error");
        assert_eq!(error["code"], "bad_request", "{text}: {error}");
    }
    // And the connection goes on to a normal session.
    tcp.write_all(&masked_frame(
        0x1,
        true,
        br#"{"type":"hello","name":"seed"}"#,
    ))
    .await
    .unwrap();
    let (_, payload) = read_frame(&mut tcp).await;
    let welcome: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["name"], "seed");
}

#[tokio::test]
async fn the_rfc_handshake_example() {
    let relay = Relay::start().await;
    let (_tcp, headers) = raw_handshake(&relay, "dGhlIHNhbXBsZSBub25jZQ==").await;
    assert_eq!(
        header(&headers, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
}

#[tokio::test]
async fn an_unmasked_client_frame_is_a_protocol_error() {
    let relay = Relay::start().await;
    let (mut tcp, _) = raw_handshake(&relay, "dGhlIHNhbXBsZSBub25jZQ==").await;
    tcp.write_all(b"\x81\x05hello").await.unwrap();
    let (opcode, payload) = read_frame(&mut tcp).await;
    assert_eq!(opcode, 0x8);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let relay = Relay::start().await;
    let (mut tcp, _) = raw_handshake(&relay, "dGhlIHNhbXBsZSBub25jZQ==").await;
    tcp.write_all(&masked_frame(0x1, true, b"\xff\xfe{}"))
        .await
        .unwrap();
    let (opcode, payload) = read_frame(&mut tcp).await;
    assert_eq!(opcode, 0x8);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1007);
}

#[tokio::test]
async fn plain_http_to_the_websocket_endpoint_is_refused_clearly() {
    let relay = Relay::start().await;
    let (status, _, body) = relay.get("/ws").await;
    assert_eq!(status, 426);
    assert!(String::from_utf8_lossy(&body).contains("WebSocket"));

    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\
         Connection: close\r\n\r\n",
        relay.addr
    );
    let (status, headers, _) =
        parse_response(&common::raw_exchange(relay.addr, request.as_bytes()).await);
    assert_eq!(status, 426);
    assert_eq!(header(&headers, "sec-websocket-version"), Some("13"));

    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
        relay.addr
    );
    let (status, _, _) =
        parse_response(&common::raw_exchange(relay.addr, request.as_bytes()).await);
    assert_eq!(status, 400);
}
