//! One host of a run: connect, check the host key, authenticate, `exec` the command, stream
//! its output, and say how it ended.
//!
//! The host's deadline runs from the start of the TCP connect to the command's exit. A connect
//! that fails or does not complete by then is `unreachable` (there was no TCP connection);
//! after it, the deadline gives `timeout`. On a timeout or a cancel with the command running,
//! the channel gets the SSH signal `TERM` and is closed (OpenSSH ignores `signal` for root
//! logins, and a command without a terminal may outlive its closed channel).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg, Disconnect, Sig};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tokio_util::sync::CancellationToken;

use super::known_hosts::KnownHosts;
use super::output::{Budget, StreamFilter};
use super::{RunEvent, Status, Stream};

/// What every host of every run shares: the loaded key, known hosts and settings.
pub(crate) struct HostContext {
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) key: Arc<PrivateKey>,
    pub(crate) known_hosts: Arc<KnownHosts>,
    pub(crate) ssh: Arc<client::Config>,
    pub(crate) timeout: Duration,
    pub(crate) output_cap: usize,
}

/// How one host ended (everything of its `Host` event but the host and the time).
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) status: Status,
    pub(crate) exit: Option<i32>,
    pub(crate) signal: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) truncated: bool,
}

impl Outcome {
    pub(crate) fn status(status: Status) -> Outcome {
        Outcome {
            status,
            exit: None,
            signal: None,
            message: None,
            truncated: false,
        }
    }

    fn message(status: Status, message: impl Into<String>) -> Outcome {
        Outcome {
            message: Some(message.into()),
            ..Outcome::status(status)
        }
    }
}

/// Checks the server's key against the known hosts.
struct Verifier {
    known_hosts: Arc<KnownHosts>,
    host: Ipv4Addr,
    port: u16,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(self.known_hosts.accepts(self.host, self.port, key))
    }
}

/// How long closing a channel or a connection may take before it is just dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Runs `command` on `host`, sending its output on `events`, until it ends, the deadline
/// passes or `cancel` fires.
pub(crate) async fn run_host(
    ctx: &HostContext,
    host: Ipv4Addr,
    command: &str,
    cancel: &CancellationToken,
    events: &mpsc::Sender<RunEvent>,
) -> Outcome {
    let deadline = Instant::now() + ctx.timeout;
    let stream = tokio::select! {
        biased;
        () = cancel.cancelled() => return Outcome::status(Status::Cancelled),
        connected = timeout_at(deadline, TcpStream::connect((host, ctx.port))) => match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Outcome::message(Status::Unreachable, e.to_string()),
            Err(_) => return Outcome::message(Status::Unreachable, "no connection before the timeout"),
        },
    };
    let _ = stream.set_nodelay(true);
    let started = tokio::select! {
        biased;
        () = cancel.cancelled() => return Outcome::status(Status::Cancelled),
        () = sleep_until(deadline) => return Outcome::status(Status::Timeout),
        started = start(ctx, host, stream, command) => started,
    };
    let (session, channel) = match started {
        Ok(pair) => pair,
        Err(outcome) => return outcome,
    };
    let mut budget = Budget::new(ctx.output_cap);
    let mut outcome = stream_output(host, channel, deadline, cancel, events, &mut budget).await;
    outcome.truncated = budget.truncated();
    // Saying goodbye is a courtesy; the host's result does not wait for it.
    tokio::spawn(async move {
        let _ = timeout(
            CLOSE_GRACE,
            session.disconnect(Disconnect::ByApplication, "", "en"),
        )
        .await;
    });
    outcome
}

/// The handshake, authentication and `exec`.
async fn start(
    ctx: &HostContext,
    host: Ipv4Addr,
    stream: TcpStream,
    command: &str,
) -> Result<(Handle<Verifier>, Channel<client::Msg>), Outcome> {
    let verifier = Verifier {
        known_hosts: ctx.known_hosts.clone(),
        host,
        port: ctx.port,
    };
    let failed =
        |what: &str, e: russh::Error| Outcome::message(Status::Failed, format!("{what}: {e}"));
    let mut session = match client::connect_stream(ctx.ssh.clone(), stream, verifier).await {
        Ok(session) => session,
        Err(russh::Error::UnknownKey) => {
            let message = if ctx.known_hosts.knows(host, ctx.port) {
                "the host's key differs from the known hosts' (changed, or an impostor)"
            } else {
                "the host is not in the known hosts"
            };
            return Err(Outcome::message(Status::HostKeyMismatch, message));
        }
        Err(e) => return Err(failed("ssh handshake", e)),
    };
    // An RSA key signs with SHA-2 (rsa-sha2-512 or -256, as the server offers); OpenSSH
    // refuses SHA-1 signatures by default.
    let hash = if matches!(ctx.key.algorithm(), russh::keys::Algorithm::Rsa { .. }) {
        match session.best_supported_rsa_hash().await {
            Ok(Some(offered)) => offered,
            _ => Some(russh::keys::HashAlg::Sha256),
        }
    } else {
        None
    };
    let key = PrivateKeyWithHashAlg::new(ctx.key.clone(), hash);
    match session.authenticate_publickey(ctx.user.as_str(), key).await {
        Ok(auth) if auth.success() => {}
        Ok(_) => {
            let message = format!("the host refused the key for user {}", ctx.user);
            return Err(Outcome::message(Status::AuthFailed, message));
        }
        Err(e) => return Err(failed("authentication", e)),
    }
    let channel = session
        .channel_open_session()
        .await
        .map_err(|e| failed("opening a session", e))?;
    channel
        .exec(true, command)
        .await
        .map_err(|e| failed("exec", e))?;
    Ok((session, channel))
}

/// Reads the channel to its end, the deadline, or a cancel.
async fn stream_output(
    host: Ipv4Addr,
    mut channel: Channel<client::Msg>,
    deadline: Instant,
    cancel: &CancellationToken,
    events: &mpsc::Sender<RunEvent>,
    budget: &mut Budget,
) -> Outcome {
    let (mut stdout, mut stderr) = (StreamFilter::default(), StreamFilter::default());
    let (mut exit, mut signal, mut message) = (None, None, None);
    loop {
        let msg = tokio::select! {
            biased;
            () = cancel.cancelled() => return stop(&channel, Status::Cancelled).await,
            () = sleep_until(deadline) => return stop(&channel, Status::Timeout).await,
            msg = channel.wait() => msg,
        };
        let (stream, text) = match msg {
            Some(ChannelMsg::Data { data }) => (Stream::Stdout, stdout.push(&data, budget)),
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                (Stream::Stderr, stderr.push(&data, budget))
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                exit = Some(i32::try_from(exit_status).unwrap_or(i32::MAX));
                continue;
            }
            Some(ChannelMsg::ExitSignal {
                signal_name,
                error_message,
                ..
            }) => {
                signal = Some(clip(signal_text(&signal_name), SIGNAL_MAX));
                message = Some(clip(&error_message, MESSAGE_MAX)).filter(|m| !m.is_empty());
                continue;
            }
            Some(ChannelMsg::Failure) => {
                message = Some("the host refused to run the command".to_owned());
                break;
            }
            Some(ChannelMsg::Close) | None => break,
            Some(_) => continue,
        };
        send_text(events, host, stream, text).await;
    }
    send_text(events, host, Stream::Stdout, stdout.finish(budget)).await;
    send_text(events, host, Stream::Stderr, stderr.finish(budget)).await;
    let status = if exit == Some(0) {
        Status::Ok
    } else {
        Status::Failed
    };
    if exit.is_none() && signal.is_none() && message.is_none() {
        message = Some("the connection ended without an exit status".to_owned());
    }
    Outcome {
        status,
        exit,
        signal,
        message: if status == Status::Ok { None } else { message },
        truncated: false,
    }
}

async fn send_text(events: &mpsc::Sender<RunEvent>, host: Ipv4Addr, stream: Stream, text: String) {
    if !text.is_empty() {
        // A closed receiver means nobody listens; the run goes on regardless.
        let _ = events.send(RunEvent::Output { host, stream, text }).await;
    }
}

/// Asks the command to stop (`TERM`) and closes its channel.
async fn stop(channel: &Channel<client::Msg>, status: Status) -> Outcome {
    let _ = timeout(CLOSE_GRACE, async {
        let _ = channel.signal(Sig::TERM).await;
        let _ = channel.close().await;
    })
    .await;
    Outcome::status(status)
}

/// The most characters kept of a signal name or an error message the host sends: they go on
/// the wire and into the audit, and the host is not trusted to keep them short or clean.
const SIGNAL_MAX: usize = 32;
const MESSAGE_MAX: usize = 256;

/// At most `max` characters of `text`, without control characters.
fn clip(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// The SSH signal name without `SIG`, as OPS.md names it.
fn signal_text(sig: &Sig) -> &str {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name.strip_prefix("SIG").unwrap_or(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_clipping() {
        assert_eq!(signal_text(&Sig::TERM), "TERM");
        assert_eq!(signal_text(&Sig::Custom("SIGWINCH".into())), "WINCH");
        assert_eq!(signal_text(&Sig::Custom("XCPU".into())), "XCPU");
        assert_eq!(clip("a\x1b[2Jb\ncé", 5), "a[2Jb");
        assert_eq!(
            clip("x".repeat(1000).as_str(), MESSAGE_MAX).len(),
            MESSAGE_MAX
        );
    }
}
