//! A real WebSocket client of the relay, and how its connection ended.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Relay, WAIT, connect_from};

/// A WebSocket client of the relay.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub name: String,
    pub token: String,
}

/// How a connection ended, as seen by the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Close(u16),
    /// The TCP connection ended without a close frame.
    Dropped,
}

impl Client {
    pub async fn connect(relay: &Relay) -> Self {
        let tcp = TcpStream::connect(relay.next_addr())
            .await
            .expect("TCP connect");
        Self::upgrade(relay, tcp).await
    }

    /// A connection whose socket has a small receive buffer, so that a client that stops
    /// reading soon stops the relay's writes too.
    pub async fn connect_small_window(relay: &Relay) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(relay.addr).await.expect("TCP connect");
        Self::upgrade(relay, tcp).await
    }

    /// A client whose TCP connection comes from the loopback address `from`.
    pub async fn connect_from(relay: &Relay, from: std::net::IpAddr) -> Self {
        let tcp = connect_from(from, relay.addr).await;
        Self::upgrade(relay, tcp).await
    }

    /// Opens the WebSocket on `tcp`, a connection to the relay, and expects 101.
    async fn upgrade(relay: &Relay, tcp: TcpStream) -> Self {
        let (ws, response) =
            tokio_tungstenite::client_async(relay.ws_url(), MaybeTlsStream::Plain(tcp))
                .await
                .expect("WebSocket connect");
        assert_eq!(response.status(), 101);
        Self {
            ws,
            name: String::new(),
            token: String::new(),
        }
    }

    /// Says hello and expects `welcome`.
    pub async fn hello(&mut self, name: &str) -> Value {
        self.send(json!({"type": "hello", "name": name})).await;
        let welcome = self.recv_type("welcome").await;
        self.name = welcome["name"].as_str().unwrap().to_owned();
        self.token = welcome["token"].as_str().unwrap().to_owned();
        welcome
    }

    /// Another connection of `name`, attached to its live session (`hello` with `attach`);
    /// its `welcome`.
    pub async fn attach(relay: &Relay, name: &str) -> (Self, Value) {
        let mut client = Self::connect(relay).await;
        client
            .send(json!({"type": "hello", "name": name, "attach": true}))
            .await;
        let welcome = client.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        assert_eq!(welcome["attached"], true, "{welcome}");
        client.name = name.to_owned();
        client.token = welcome["token"].as_str().unwrap_or_default().to_owned();
        (client, welcome)
    }

    /// The next frame that is not `presence` or `members` (which a cluster may send late).
    pub async fn next_but_presence(&mut self) -> Value {
        loop {
            let frame = self.recv().await;
            if frame["type"] != "presence" && frame["type"] != "members" {
                return frame;
            }
        }
    }

    /// Says hello as `name` until the relay takes it: a name is free again only once the
    /// relay has noticed its last holder go. Fails the test after about a second.
    pub async fn hello_when_free(&mut self, name: &str) {
        for _ in 0..50 {
            self.send(json!({"type": "hello", "name": name})).await;
            let answer = self.recv().await;
            if answer["type"] == "welcome" {
                self.name = answer["name"].as_str().unwrap().to_owned();
                return;
            }
            assert_eq!(answer["code"], "name_taken", "{answer}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("'{name}' stayed taken");
    }

    /// Asks for `users` until the list is `online`: waits for the relay to notice drops.
    pub async fn wait_for_online(&mut self, online: &[&str]) {
        for _ in 0..50 {
            self.send(json!({"type": "users"})).await;
            if self.recv_type("users").await["online"] == json!(online) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the users online never became {online:?}");
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("send");
    }

    /// The next JSON frame (pings and pongs are skipped).
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: no frame within {WAIT:?}", self.name))
                .unwrap_or_else(|| panic!("{}: connection ended", self.name))
                .unwrap_or_else(|e| panic!("{}: {e}", self.name));
            match msg {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("{}: expected a text frame, got {other:?}", self.name),
            }
        }
    }

    /// The next JSON frame, or `None` once the connection has ended (close frame or error).
    /// Waits as long as it takes: wrap it in a timeout.
    pub async fn recv_raw(&mut self) -> Option<Value> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// The next frame, which must be of `kind`.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        let frame = self.recv().await;
        assert_eq!(
            frame["type"], kind,
            "{}: unexpected frame {frame}",
            self.name
        );
        frame
    }

    /// The next frame, which must be an `error` with `code`.
    pub async fn recv_error(&mut self, code: &str) -> Value {
        let frame = self.recv_type("error").await;
        assert_eq!(frame["code"], code, "{frame}");
        assert!(
            frame["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{frame}"
        );
        frame
    }

    /// Asserts that no frame arrives for `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        let got = tokio::time::timeout(Duration::from_millis(ms), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => return other,
                }
            }
        })
        .await;
        if let Ok(frame) = got {
            panic!("{}: expected silence, got {frame:?}", self.name);
        }
    }

    /// Reads until the connection ends; returns how it ended.
    pub async fn ended(&mut self, within: Duration) -> Ended {
        tokio::time::timeout(within, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return Ended::Close(frame.code.into());
                    }
                    Some(Ok(Message::Close(None))) => return Ended::Close(1005),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Ended::Dropped,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: connection still open after {within:?}", self.name))
    }

    /// Joins `room` and returns the `joined` frame.
    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room})).await;
        self.recv_type("joined").await
    }

    /// Says `text` in `room` with `cid`, and returns the acknowledging `message`.
    pub async fn say(&mut self, room: &str, text: &str, cid: &str) -> Value {
        self.send(json!({"type": "say", "room": room, "text": text, "cid": cid}))
            .await;
        let msg = self.recv_type("message").await;
        assert_eq!(msg["cid"], cid, "{msg}");
        msg
    }

    /// Sends `frames` in one write, at once (not held back by Nagle's algorithm): on loopback
    /// they are in the relay's socket together before this returns.
    pub async fn send_in_one_write(&mut self, frames: &[Value]) {
        if let MaybeTlsStream::Plain(tcp) = self.ws.get_ref() {
            tcp.set_nodelay(true).unwrap();
        }
        for frame in frames {
            self.ws
                .feed(Message::text(frame.to_string()))
                .await
                .expect("send");
        }
        self.ws.flush().await.expect("send");
    }

    /// Closes the TCP connection without a close frame, as a network drop would.
    pub async fn drop_connection(self) {
        let stream = self.ws.into_inner();
        drop(stream);
    }
}
