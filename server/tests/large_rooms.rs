//! Large rooms over real sockets: `tickforge.v2` members of `arena-large`
//! get interest state (deltas and cells around their entity) and see each
//! other only when near; a `tickforge.v1` member of the same room still
//! gets the full State.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use flatbuffers::FlatBufferBuilder;
use support::{connect_with, next_state, player_options, position, start};
use tickforge_protocol::arena_codec::{self, Move};
use tickforge_protocol::client::ConnectOptions;
use tickforge_protocol::replication::QUANTUM;

const WAIT: Duration = Duration::from_secs(5);
const LARGE: &str = "arena;arena-large,tick=20,capacity=8";

fn v2(player: &str) -> ConnectOptions {
    ConnectOptions {
        interest: true,
        ..player_options(player)
    }
}

fn boost_towards(from: (f32, f32), to: (f32, f32)) -> Vec<u8> {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let mut fbb = FlatBufferBuilder::new();
    let m = Move {
        x: (dx / len * 127.0) as i8,
        y: (dy / len * 127.0) as i8,
        buttons: 1,
    };
    arena_codec::encode_input(&mut fbb, m).to_vec()
}

#[tokio::test]
async fn two_v2_players_see_each_other_when_near_and_not_when_far() {
    let server = start(&["--mode", LARGE]);
    let mut carol = server.connect("carol").await;
    let c = carol
        .join_or_create("arena-large")
        .await
        .expect("carol joins");
    assert_eq!(c.view_radius_cells, 0, "a v1 member gets no view radius");
    let mut alice = connect_with(&server, v2("alice")).await;
    let mut bob = connect_with(&server, v2("bob")).await;
    let a = alice
        .join_or_create("arena-large")
        .await
        .expect("alice joins");
    let b = bob.join_or_create("arena-large").await.expect("bob joins");
    assert_eq!(
        (a.room_id.as_str(), a.view_radius_cells),
        (c.room_id.as_str(), 1)
    );
    assert!(a.state.is_empty(), "a v2 Joined carries no full state");

    // The v1 member sees everyone, in full.
    let (pa, pb) = loop {
        let full = next_state(&mut carol, WAIT).await;
        if let (Some(pa), Some(pb)) = (
            position(&full.state, a.entity_id),
            position(&full.state, b.entity_id),
        ) {
            break (pa, pb);
        }
    };
    assert!(
        (pa.0 - pb.0).abs() > 600.0 || (pa.1 - pb.1).abs() > 600.0,
        "spawn points are far apart: {pa:?} {pb:?}"
    );

    // Far: each sees itself, not the other, from its first State on.
    let first = next_state(&mut bob, WAIT).await;
    let ids: Vec<u32> = first.entities.iter().map(|e| e.id).collect();
    assert!(
        ids.contains(&b.entity_id) && !ids.contains(&a.entity_id),
        "{ids:?}"
    );
    assert_eq!(first.ack_for(b.entity_id), Some(0));

    // Bob runs towards alice until his replica shows her.
    let seq = bob.send_input(&boost_towards(pb, pa)).await.expect("input");
    let seen = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let s = next_state(&mut bob, WAIT).await;
            if let Some(e) = s.entities.iter().find(|e| e.id == a.entity_id) {
                return (s.clone(), *e);
            }
            next_state(&mut alice, WAIT).await;
        }
    })
    .await
    .expect("bob comes near enough to see alice");
    let (state, alice_seen) = seen;
    assert!(state.ack_for(b.entity_id).is_some_and(|ack| ack >= seq));
    let me = state
        .entities
        .iter()
        .find(|e| e.id == b.entity_id)
        .expect("bob sees himself");
    // Never further than the view radius (one 300-unit cell) plus one cell.
    let reach = 600.0 * QUANTUM;
    assert!(
        (alice_seen.x - me.x).abs() as f32 <= reach,
        "{alice_seen:?} {me:?}"
    );
    assert!(
        (alice_seen.y - me.y).abs() as f32 <= reach,
        "{alice_seen:?} {me:?}"
    );
    // And alice, standing still, is where the v1 member saw her.
    assert_eq!(alice_seen.x, (pa.0 * QUANTUM).round() as i32);
}
