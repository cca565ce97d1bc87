//! What each Redis persistence setting costs the Redis engine's log: messages stored a second,
//! one sender after another and 8 at once, on a redis-server of its own (loopback, a temporary
//! directory). A measurement, not a check: `cargo run -p courier --example
//! redis_durability_cost`. The figures are in docs/CLUSTER.md and `engine/redis/durability.rs`.

#[path = "../tests/redis_fixture/mod.rs"]
mod redis_fixture;

use std::time::Instant;

use redis_fixture::Redis;
use redis_fixture::messages::{connect, room_msg, stored};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for (appendonly, appendfsync) in [("yes", "always"), ("yes", "everysec"), ("no", "no")] {
        let redis = Redis::start_with(appendonly, appendfsync);
        let log = connect(&redis).await;
        let started = Instant::now();
        for i in 0..1000 {
            stored(
                log.store_room(&room_msg("one", "alice", &format!("{i}"), None))
                    .await
                    .unwrap(),
            );
        }
        let serial = 1000.0 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..500 {
                        let msg = room_msg("many", &format!("u{t}"), &format!("{i}"), None);
                        stored(log.store_room(&msg).await.unwrap());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let parallel = 4000.0 / started.elapsed().as_secs_f64();
        println!(
            "appendonly {appendonly} appendfsync {appendfsync}: {serial:.0}/s one at a time, \
             {parallel:.0}/s from 8 senders"
        );
    }
}
