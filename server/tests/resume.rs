//! Session resume over real sockets: a held seat taken back by a new
//! connection (after a half-open one the server had not noticed, and after
//! a cut one), the grace ending in an ordinary leave with the snapshot
//! written, and every way a resume token is refused.
//!
//! Metrics are process-wide and the tests of this file run in parallel, so
//! metric checks are lower bounds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tickforge_protocol::client::{Client, ConnectOptions, Event, JoinedInfo, StateInfo};
use tickforge_protocol::resume_token::ResumeClaims;
use tickforge_protocol::session_token::SessionKeys;

use support::proxy::Proxy;
use support::*;

const WAIT: Duration = Duration::from_secs(5);

/// Options that present only a resume token (no identity token).
fn resume_only(resume_token: &str) -> ConnectOptions {
    ConnectOptions {
        resume_token: Some(resume_token.to_string()),
        ..ConnectOptions::player("")
    }
}

/// Reads events until `pick` returns something; fails after `WAIT`.
async fn until<T>(client: &mut Client, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(found) = pick(client.next_event().await.expect("event")) {
                return found;
            }
        }
    })
    .await
    .expect("the event came in time")
}

async fn resumed_joined(client: &mut Client) -> JoinedInfo {
    until(client, |e| match e {
        Event::Joined(j) => Some(j),
        _ => None,
    })
    .await
}

async fn away_event(client: &mut Client, entity: u32, away: bool) {
    until(client, |e| match e {
        Event::PlayerAway(id, _, a) if id == entity && a == away => Some(()),
        _ => None,
    })
    .await
}

async fn state_acking(client: &mut Client, entity: u32, seq: u32) -> StateInfo {
    until(client, |e| match e {
        Event::State(s) if s.ack_for(entity) == Some(seq) => Some(s),
        _ => None,
    })
    .await
}

/// The close code and reason a refused connect got.
async fn refused(url: &str, options: ConnectOptions) -> (u16, String) {
    match Client::connect(url, options).await {
        Ok(_) => panic!("the connect was accepted"),
        Err(e) => {
            let (code, reason) = e.close().unwrap_or((0, "no close"));
            (code, reason.to_string())
        }
    }
}

fn near(a: Option<(f32, f32)>, b: Option<(f32, f32)>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a.0 - b.0).abs() < 0.01 && (a.1 - b.1).abs() < 0.01,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_replaces_a_half_open_connection_at_once_with_the_same_entity_and_acks() {
    let server = start(&["--resume-grace", "10s", "--shards", "1"]);
    let proxy = Proxy::start(server.addr).await;
    let mut alice = connect_with_url(&proxy.url(), player_options("alice")).await;
    assert!(!alice.welcome.resume_token.is_empty());
    assert_eq!(alice.welcome.resume_grace_ms, 10_000);
    let joined = alice.join_or_create("arena").await.expect("joins");
    let entity = joined.entity_id;
    alice.send_input(&arena_input(127, 0)).await.expect("input");
    let stop = alice.send_input(&arena_input(0, 0)).await.expect("input");
    let state = state_acking(&mut alice, entity, stop).await;
    let at = position(&state.state, entity);

    proxy.go_silent();
    let started = Instant::now();
    let mut back = connect_with_url(&server.url(), resume_only(&alice.welcome.resume_token)).await;
    assert!(back.welcome.resumed, "Welcome says resumed");
    assert_eq!(back.welcome.player_id, "alice");
    let joined = resumed_joined(&mut back).await;
    assert!(joined.resumed);
    assert_eq!(joined.entity_id, entity, "the same entity");
    assert_eq!(
        joined.last_input_seq, stop,
        "acks continue from the last applied input"
    );
    assert!(
        near(position(&joined.state, entity), at),
        "the same position"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait for the idle timeout: {:?}",
        started.elapsed()
    );
    assert!(
        server
            .metric("tickforge_resume_half_open_replaced_total")
            .await
            >= 1.0
    );
    assert!(
        server
            .metric("tickforge_resumes_total{result=\"resumed\"}")
            .await
            >= 1.0
    );
    let next = back.send_input(&arena_input(0, 127)).await.expect("input");
    assert_eq!(next, stop + 1, "the client numbers on from the ack");
    state_acking(&mut back, entity, next).await;
    drop(alice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_player_is_away_and_stopped_until_it_resumes_its_seat() {
    let server = start(&["--resume-grace", "10s", "--shards", "1"]);
    let proxy = Proxy::start(server.addr).await;
    let mut alice = connect_with_url(&proxy.url(), player_options("alice")).await;
    let joined = alice.join_or_create("arena").await.expect("joins");
    let entity = joined.entity_id;
    let mut bob = server.connect("bob").await;
    bob.join(&joined.room_id).await.expect("bob joins");
    let moving = alice
        .send_input(&arena_input(127, 64))
        .await
        .expect("input");
    state_acking(&mut alice, entity, moving).await;

    proxy.cut();
    away_event(&mut bob, entity, true).await;
    let first = next_state(&mut bob, WAIT).await;
    let mut later = next_state(&mut bob, WAIT).await;
    for _ in 0..5 {
        later = next_state(&mut bob, WAIT).await;
    }
    let stopped = position(&first.state, entity);
    assert!(stopped.is_some(), "the entity stays in the game");
    assert!(
        near(position(&later.state, entity), stopped),
        "the neutral input stopped the disc"
    );
    assert!(server.metric("tickforge_resume_seats_held").await >= 1.0);
    let room = server.room(&joined.room_id).await.expect("room listed");
    assert_eq!(room["players"], 2, "the held seat still counts");

    let mut back = connect_with_url(&server.url(), resume_only(&alice.welcome.resume_token)).await;
    assert!(back.welcome.resumed);
    let resumed = resumed_joined(&mut back).await;
    assert_eq!(resumed.entity_id, entity);
    assert_eq!(resumed.last_input_seq, moving);
    assert!(near(position(&resumed.state, entity), stopped));
    assert_eq!(resumed.players.len(), 2);
    assert!(resumed.away.is_empty(), "nobody is away any more");
    away_event(&mut bob, entity, false).await;
    // A second resume with the same token finds no seat: each Welcome's token is single-use.
    let (code, reason) = refused(&server.url(), resume_only(&alice.welcome.resume_token)).await;
    assert_eq!((code, reason.as_str()), (4003, "auth_resume_expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_grace_the_seat_is_an_ordinary_leave_and_the_snapshot_is_written() {
    let server = start(&["--resume-grace", "1s", "--shards", "1"]);
    let proxy = Proxy::start(server.addr).await;
    let mut alice = connect_with_url(&proxy.url(), player_options("alice")).await;
    let joined = alice.join_or_create("arena").await.expect("joins");
    let entity = joined.entity_id;
    let mut bob = server.connect("bob").await;
    bob.join(&joined.room_id).await.expect("bob joins");
    let moving = alice
        .send_input(&arena_input(127, 127))
        .await
        .expect("input");
    state_acking(&mut alice, entity, moving).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.cut();
    away_event(&mut bob, entity, true).await;
    let stopped = position(&next_state(&mut bob, WAIT).await.state, entity);
    let away_at = Instant::now();
    until(&mut bob, |e| match e {
        Event::PlayerLeft(id, _) if id == entity => Some(()),
        _ => None,
    })
    .await;
    let held = away_at.elapsed();
    assert!(
        held >= Duration::from_millis(800) && held < Duration::from_secs(3),
        "held for the grace: {held:?}"
    );
    assert!(server.metric("tickforge_resume_grace_expired_total").await >= 1.0);
    let (code, reason) = refused(&server.url(), resume_only(&alice.welcome.resume_token)).await;
    assert_eq!((code, reason.as_str()), (4003, "auth_resume_expired"));

    // With an identity token as well, a stale resume token is an ordinary Hello.
    let options = ConnectOptions {
        resume_token: Some(alice.welcome.resume_token.clone()),
        ..player_options("alice")
    };
    let mut again = connect_with_url(&server.url(), options).await;
    assert!(!again.welcome.resumed);
    let rejoined = again.join(&joined.room_id).await.expect("rejoins");
    assert!(!rejoined.resumed);
    assert!(
        near(position(&rejoined.state, rejoined.entity_id), stopped),
        "the snapshot of the leave was written and loaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_tokens_are_refused_forged_of_the_wrong_kind_or_for_another_player() {
    let server = start(&["--resume-grace", "10s"]);
    let alice = server.connect("alice").await;
    let resume = alice.welcome.resume_token.clone();
    let url = server.url();

    // Another key.
    let other = SessionKeys::ephemeral().expect("key");
    let foreign = other
        .mint_resume(&ResumeClaims::new("alice", None, false, "n", 1))
        .expect("signs");
    assert_eq!(
        refused(&url, resume_only(&foreign)).await,
        (4003, "auth_unknown_key".into())
    );
    // The right key id, a changed payload: the signature no longer matches.
    let mut parts: Vec<String> = resume.split('.').map(str::to_string).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
    claims["sub"] = "mallory".into();
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_eq!(
        refused(&url, resume_only(&parts.join("."))).await,
        (4003, "auth_signature".into())
    );
    // An identity token is not a resume token, and a resume token is not an identity.
    assert_eq!(
        refused(&url, resume_only(&token("alice"))).await,
        (4003, "auth_token_kind".into())
    );
    assert_eq!(
        refused(&url, ConnectOptions::token(resume.clone())).await,
        (4003, "auth_token_kind".into())
    );
    // Bob's token with Alice's resume token.
    let options = ConnectOptions {
        resume_token: Some(resume.clone()),
        ..ConnectOptions::token(token("bob"))
    };
    assert_eq!(
        refused(&url, options).await,
        (4003, "auth_subject_mismatch".into())
    );
    // Alice is not seated: there is no seat to take back.
    assert_eq!(
        refused(&url, resume_only(&resume)).await,
        (4003, "auth_resume_expired".into())
    );
    assert!(
        server
            .metric("tickforge_resumes_total{result=\"refused\"}")
            .await
            >= 4.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_room_and_a_close_with_1000_give_the_seat_up_at_once() {
    let server = start(&["--resume-grace", "10s", "--shards", "1"]);
    let mut bob = server.connect("bob").await;
    let room = bob.join_or_create("arena").await.expect("bob joins");

    let mut alice = server.connect("alice").await;
    let joined = alice.join(&room.room_id).await.expect("alice joins");
    alice.leave().await.expect("leaves");
    let left_at = Instant::now();
    until(&mut bob, |e| match e {
        Event::PlayerLeft(id, _) if id == joined.entity_id => Some(()),
        Event::PlayerAway(..) => panic!("a leave is not a drop"),
        _ => None,
    })
    .await;
    assert!(left_at.elapsed() < Duration::from_secs(2));
    let (code, reason) = refused(&server.url(), resume_only(&alice.welcome.resume_token)).await;
    assert_eq!((code, reason.as_str()), (4003, "auth_resume_expired"));

    let mut carol = server.connect("carol").await;
    let joined = carol.join(&room.room_id).await.expect("carol joins");
    let resume = carol.welcome.resume_token.clone();
    carol.close().await.expect("closes with 1000");
    until(&mut bob, |e| match e {
        Event::PlayerLeft(id, _) if id == joined.entity_id => Some(()),
        Event::PlayerAway(..) => panic!("a close with 1000 is not a drop"),
        _ => None,
    })
    .await;
    let (code, reason) = refused(&server.url(), resume_only(&resume)).await;
    assert_eq!((code, reason.as_str()), (4003, "auth_resume_expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_resume_off_a_drop_leaves_at_once_and_welcome_has_no_token() {
    let server = start(&["--resume-grace", "0s"]);
    let proxy = Proxy::start(server.addr).await;
    let mut alice = connect_with_url(&proxy.url(), player_options("alice")).await;
    assert!(alice.welcome.resume_token.is_empty());
    assert_eq!(alice.welcome.resume_grace_ms, 0);
    let joined = alice.join_or_create("arena").await.expect("joins");
    let mut bob = server.connect("bob").await;
    bob.join(&joined.room_id).await.expect("bob joins");
    proxy.cut();
    until(&mut bob, |e| match e {
        Event::PlayerLeft(id, _) if id == joined.entity_id => Some(()),
        Event::PlayerAway(..) => panic!("resume is off"),
        _ => None,
    })
    .await;
}

async fn connect_with_url(url: &str, options: ConnectOptions) -> Client {
    Client::connect(url, options)
        .await
        .expect("client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_login_without_the_resume_token_gives_the_held_seat_up_at_once() {
    let server = start(&["--resume-grace", "60s", "--shards", "1"]);
    let proxy = Proxy::start(server.addr).await;
    let mut alice = connect_with_url(&proxy.url(), player_options("alice")).await;
    let joined = alice.join_or_create("arena").await.expect("joins");
    let mut bob = server.connect("bob").await;
    bob.join(&joined.room_id).await.expect("bob joins");
    proxy.cut();
    away_event(&mut bob, joined.entity_id, true).await;

    let started = Instant::now();
    let mut again = server.connect("alice").await;
    assert!(!again.welcome.resumed);
    until(&mut bob, |e| match e {
        Event::PlayerLeft(id, _) if id == joined.entity_id => Some(()),
        _ => None,
    })
    .await;
    let rejoined = again.join(&joined.room_id).await.expect("rejoins");
    assert!(!rejoined.resumed);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait for the grace: {:?}",
        started.elapsed()
    );
    let (code, reason) = refused(&server.url(), resume_only(&alice.welcome.resume_token)).await;
    assert_eq!((code, reason.as_str()), (4003, "auth_resume_expired"));
}

/// Options for the Rust client's own resume: a short silence limit.
fn resuming(player: &str) -> ConnectOptions {
    ConnectOptions {
        silence_timeout: Duration::from_millis(500),
        ..player_options(player)
    }
}

async fn resumed_event(client: &mut Client) -> (JoinedInfo, u64, bool) {
    until(client, |e| match e {
        Event::Resumed {
            joined,
            gap_ticks,
            moved,
        } => Some((joined, gap_ticks, moved)),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_takes_its_seat_back_by_itself_after_the_server_went_silent() {
    let server = start(&["--resume-grace", "10s", "--shards", "1"]);
    let proxy = Proxy::start(server.addr).await;
    let mut alice = connect_with_url(&proxy.url(), resuming("alice")).await;
    let joined = alice.join_or_create("arena").await.expect("joins");
    let stop = alice.send_input(&arena_input(0, 0)).await.expect("input");
    let before = state_acking(&mut alice, joined.entity_id, stop).await;

    proxy.go_silent();
    let (resumed, gap_ticks, moved) = resumed_event(&mut alice).await;
    assert!(!moved);
    assert_eq!(resumed.entity_id, joined.entity_id);
    assert_eq!(resumed.last_input_seq, stop);
    assert!(
        gap_ticks >= 10,
        "half a second of silence at 30 Hz: {gap_ticks} ticks"
    );
    assert!(near(
        position(&resumed.state, joined.entity_id),
        position(&before.state, joined.entity_id)
    ));
    let next = alice.send_input(&arena_input(10, 0)).await.expect("input");
    assert_eq!(next, stop + 1);
    state_acking(&mut alice, joined.entity_id, next).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_resumes_after_a_cut_with_a_fresh_token_from_its_provider() {
    let server = start(&["--resume-grace", "10s", "--shards", "1"]);
    let proxy = Proxy::start(server.addr).await;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let provider: tickforge_protocol::client::TokenProvider = std::sync::Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Ok(token("alice")) })
    });
    let options = ConnectOptions {
        silence_timeout: Duration::from_millis(500),
        ..ConnectOptions::token_provider(provider)
    };
    let mut alice = connect_with_url(&proxy.url(), options).await;
    let joined = alice.join_or_create("arena").await.expect("joins");
    next_state(&mut alice, WAIT).await;

    proxy.cut();
    let (resumed, _, _) = resumed_event(&mut alice).await;
    assert_eq!(resumed.entity_id, joined.entity_id);
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a fresh token for the resume"
    );
    next_state(&mut alice, WAIT).await;
}
