//! Session resume across nodes: a resume token issued by one node and
//! presented to another is answered with Welcome and a Redirect to the node
//! holding the seat (presence places the player there), and the Rust
//! client follows it into the same seat. Two tickforge processes share a
//! real `redis-server`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::cluster::{NodeProcess, Redis, eventually};
use tickforge_protocol::client::{Client, ClientError, ConnectOptions, Event};

const SEEN: Duration = Duration::from_secs(15);
const WAIT: Duration = Duration::from_secs(5);

fn resume_only(resume_token: &str, auto_resume: bool) -> ConnectOptions {
    ConnectOptions {
        resume_token: Some(resume_token.to_string()),
        auto_resume,
        ..ConnectOptions::player("")
    }
}

async fn next(client: &mut Client) -> Result<Event, ClientError> {
    tokio::time::timeout(WAIT, client.next_event())
        .await
        .expect("an event in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_token_of_another_node_is_redirected_there_and_the_client_follows_it() {
    let redis = Redis::start().await;
    let a = NodeProcess::start("node-a", &redis.url(), &[]).await;
    let b = NodeProcess::start("node-b", &redis.url(), &[]).await;
    a.wait_presence("connected", SEEN).await;
    b.wait_presence("connected", SEEN).await;
    let player = support::players::run_prefix("resumer");

    let mut alice = Client::connect(&a.url(), support::player_options(&player))
        .await
        .unwrap();
    let joined = alice.join_or_create("arena").await.unwrap();
    let token = alice.welcome.resume_token.clone();
    eventually(
        SEEN,
        "the player placed on node-a, seen from node-b",
        || async { (b.placements(&player).await.len() == 1).then_some(()) },
    )
    .await;

    // Node-b holds no seat for it: Welcome, then a Redirect carrying the token.
    let mut asked = Client::connect(&b.url(), resume_only(&token, false))
        .await
        .unwrap();
    assert!(!asked.welcome.resumed);
    match next(&mut asked).await.unwrap() {
        Event::Redirect {
            url,
            room_id,
            resume_token,
        } => {
            assert_eq!(url, a.url());
            assert_eq!(room_id, joined.room_id);
            assert_eq!(resume_token, token);
        }
        other => panic!("expected a Redirect, got {other:?}"),
    }
    assert!(
        b.metric("tickforge_resumes_total{result=\"redirected\"}")
            .await
            >= 1.0
    );

    // The client follows it by itself and lands in the same seat on node-a.
    let mut follower = Client::connect(&b.url(), resume_only(&token, true))
        .await
        .unwrap();
    match next(&mut follower).await.unwrap() {
        Event::Resumed {
            joined: j, moved, ..
        } => {
            assert!(moved);
            assert_eq!(j.room_id, joined.room_id);
            assert_eq!(j.entity_id, joined.entity_id);
        }
        other => panic!("expected Resumed, got {other:?}"),
    }
    // The first connection was still open: the resume closed it.
    let closed = loop {
        match next(&mut alice).await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(closed.close(), Some((4005, "resumed")), "{closed}");
}
