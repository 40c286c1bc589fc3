//! The sandbox changes nothing but the cost: the transform fixture's card
//! gives, through the host, exactly what the same Rust function gives when
//! called natively (the benchmark's baseline), and its errors arrive typed.

use crate::common::*;
use cardhost::{CardFailure, ErrorKind, NetworkPolicy};
use cardhost_e2e::guests;
use fixture_transform::{CARD, ID, normalise_person};
use serde_json::{Value, json};

fn people() -> Vec<Value> {
    vec![
        json!({"first_name": "Aiko", "last_name": "Tanaka", "email": "aiko@example.com", "hired_on": "2019-04-01"}),
        json!({"first_name": " Ōshima ", "last_name": "Ren-Jō", "email": " REN@Example.CO.JP ",
               "hired_on": "2001-12-31", "tags": ["Sales", "sales", "", " 東京 "]}),
        json!({"first_name": "d'Arcy", "last_name": "O'Neil (Jr.)", "email": "x@y", "hired_on": "1999-01-01",
               "tags": ["b", "a", "B"]}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_in_the_sandbox_equals_the_native_function() {
    let host = host_with(
        &[guests::TRANSFORM],
        test_limits(),
        NetworkPolicy::default(),
    )
    .await;
    for person in people() {
        let native = normalise_person(person.clone()).expect("native run");
        let hosted = host
            .invoke(ID, CARD, &person, None)
            .await
            .unwrap_or_else(|f| panic!("{person}: {}", f));
        assert_eq!(hosted.output, native, "for {person}");
        assert!(
            hosted.journal.calls.is_empty(),
            "an I/O-free card made a request"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_by_the_schema_or_the_card_with_its_reason() {
    let host = host_with(
        &[guests::TRANSFORM],
        test_limits(),
        NetworkPolicy::default(),
    )
    .await;
    // The schema refuses a bad date before the card runs, naming the field.
    let bad_date = json!({"first_name": "A", "last_name": "B", "email": "a@b", "hired_on": "soon"});
    match host
        .invoke(ID, CARD, &bad_date, None)
        .await
        .map_err(|f| f.kind)
    {
        Err(ErrorKind::InvalidInput { violations, .. }) => {
            assert_eq!(violations.len(), 1, "{violations:?}");
            assert_eq!(violations[0].pointer, "/hired_on");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    // The card refuses what only it can judge, as natively.
    let no_at =
        json!({"first_name": "A", "last_name": "B", "email": "nobody", "hired_on": "2020-01-01"});
    let native = normalise_person(no_at.clone()).unwrap_err().to_string();
    match host
        .invoke(ID, CARD, &no_at, None)
        .await
        .map_err(|f| f.kind)
    {
        Err(ErrorKind::Card(CardFailure::InvalidInput { message })) => {
            assert!(message.contains("`email`"), "{message}");
            assert!(
                native.contains(&message),
                "native: {native}, hosted: {message}"
            );
        }
        other => panic!("expected the card's invalid-input error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instantiating_alone_runs_no_card_and_names_unknown_connectors() {
    let host = host_with(
        &[guests::TRANSFORM],
        test_limits(),
        NetworkPolicy::default(),
    )
    .await;
    for _ in 0..3 {
        host.instantiate(ID).await.expect("instantiates");
    }
    match host.instantiate("nope").await {
        Err(e) if matches!(e.kind, ErrorKind::UnknownConnector) => {
            assert_eq!(e.connector, "nope")
        }
        other => panic!("expected unknown connector, got {other:?}"),
    }
}
