//! Opening client connections: from a spread of loopback source addresses, with small buffers,
//! and the Courier session handshake (`hello` → `welcome`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use futures_util::{SinkExt, StreamExt};
use shared::{ClientFrame, ClientMsg, ServerMsg};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

/// A client's WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// Source addresses used: 127.0.0.1 to 127.0.0.250. One address has ~28,000 ephemeral ports
/// towards one relay port; spreading over many lets 60,000 clients connect (Linux routes all
/// of 127.0.0.0/8 to the loopback interface without configuration).
const SOURCE_ADDRESSES: u32 = 250;

/// Bytes of each client's read buffer. tungstenite's default (128 KiB) would make 60,000
/// clients cost 7.5 GiB in the bench itself; frames here are small.
const CLIENT_READ_BUFFER: usize = 4096;

/// Refuses any relay address but loopback: the bench is for this machine only.
///
/// # Errors
/// A message naming the address when it is not a loopback address.
pub fn check_loopback(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{addr} is not a loopback address; the bench only targets this machine"
        ))
    }
}

/// Opens a WebSocket to `url` on `relay`, from source address 127.0.0.x chosen by `i`.
///
/// # Errors
/// The socket, connect or handshake error, as text.
pub async fn connect(relay: SocketAddr, i: u32, url: &str) -> Result<Ws, String> {
    check_loopback(relay)?;
    let (socket, source) = if relay.is_ipv4() {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % SOURCE_ADDRESSES) as u8));
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| format!("bind {source}: {e}"))?;
        (socket, source)
    } else {
        // IPv6 has a single loopback address: no spreading.
        let socket = TcpSocket::new_v6().map_err(|e| format!("socket: {e}"))?;
        (socket, relay.ip())
    };
    socket
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let tcp = socket
        .connect(relay)
        .await
        .map_err(|e| format!("connect {relay} from {source}: {e}"))?;
    let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
    let (ws, _) = client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Opens a connection to the relay's `/ws` and says hello as `name`; returns once welcomed.
///
/// # Errors
/// A connection failure, or the relay's answer when it is not `welcome`.
pub async fn open_courier(relay: SocketAddr, i: u32, name: &str) -> Result<Ws, String> {
    let mut ws = connect(relay, i, &format!("ws://{relay}/ws")).await?;
    let hello = ClientFrame::new(ClientMsg::Hello {
        name: name.to_owned(),
        token: None,
        acks: false,
        password: None,
        attach: false,
    });
    send_frame(&mut ws, &hello).await?;
    match next_server_msg(&mut ws).await? {
        ServerMsg::Welcome { .. } => Ok(ws),
        other => Err(format!("{name}: expected welcome, got {other:?}")),
    }
}

/// Sends one client frame.
///
/// # Errors
/// The write error, as text.
pub async fn send_frame(ws: &mut Ws, frame: &ClientFrame) -> Result<(), String> {
    ws.send(Message::text(frame.to_json()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// The next text frame from the relay, parsed (control frames are skipped).
///
/// # Errors
/// The connection ended, failed, or sent something that is not a server frame.
pub async fn next_server_msg(ws: &mut Ws) -> Result<ServerMsg, String> {
    while let Some(msg) = ws.next().await {
        match msg.map_err(|e| format!("read: {e}"))? {
            Message::Text(text) => {
                return ServerMsg::parse(&text).map_err(|e| format!("bad frame {text}: {e}"));
            }
            Message::Close(frame) => return Err(format!("closed by the relay: {frame:?}")),
            _ => {}
        }
    }
    Err("connection ended".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_accepted() {
        assert!(check_loopback("127.0.0.1:80".parse().unwrap()).is_ok());
        assert!(check_loopback("127.9.9.9:80".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:80".parse().unwrap()).is_ok());
        assert!(check_loopback("10.0.0.1:80".parse().unwrap()).is_err());
        assert!(check_loopback("8.8.8.8:53".parse().unwrap()).is_err());
    }
}
