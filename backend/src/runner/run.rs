//! One run: its hosts in order, each when one of the runner's permits is free, then `Done`.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ssh::{HostContext, Outcome, run_host};
use super::{RunEvent, Status};

/// Runs every host and sends exactly one `Host` event each, then one `Done`.
///
/// Hosts start in the order given as permits free up. Once `cancel` fires, hosts not yet
/// started are reported `cancelled` at once; running ones stop themselves (see `ssh`).
pub(crate) async fn run(
    ctx: Arc<HostContext>,
    hosts: Vec<Ipv4Addr>,
    command: Arc<str>,
    permits: Arc<Semaphore>,
    cancel: CancellationToken,
    events: mpsc::Sender<RunEvent>,
) {
    let begun = Instant::now();
    let mut tasks = JoinSet::new();
    let mut task_hosts = HashMap::new();
    let (mut ok, mut failed) = (0, 0);
    for host in hosts {
        let permit = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            permit = permits.clone().acquire_owned() => permit.ok(),
        };
        let Some(permit) = permit else {
            failed += 1;
            let outcome = Outcome::status(Status::Cancelled);
            let _ = events.send(host_event(host, outcome, Instant::now())).await;
            continue;
        };
        let (ctx, command) = (ctx.clone(), command.clone());
        let (cancel, events) = (cancel.clone(), events.clone());
        let task = tasks.spawn(async move {
            let _permit = permit;
            let start = Instant::now();
            let outcome = run_host(&ctx, host, &command, &cancel, &events).await;
            let ok = outcome.status == Status::Ok;
            let _ = events.send(host_event(host, outcome, start)).await;
            ok
        });
        task_hosts.insert(task.id(), host);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, true)) => ok += 1,
            Ok((_, false)) => failed += 1,
            Err(e) => {
                // A panic in a host's task: that host still gets its one event.
                failed += 1;
                tracing::error!(error = %e, "runner: a host's task failed");
                if let Some(host) = task_hosts.get(&e.id()) {
                    let outcome = Outcome {
                        message: Some("internal error".to_owned()),
                        ..Outcome::status(Status::Failed)
                    };
                    let _ = events.send(host_event(*host, outcome, begun)).await;
                }
            }
        }
    }
    let ms = millis(begun);
    let _ = events.send(RunEvent::Done { ok, failed, ms }).await;
}

fn host_event(host: Ipv4Addr, outcome: Outcome, start: Instant) -> RunEvent {
    RunEvent::Host {
        host,
        status: outcome.status,
        exit: outcome.exit,
        signal: outcome.signal,
        message: outcome.message,
        ms: millis(start),
        truncated: outcome.truncated,
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
