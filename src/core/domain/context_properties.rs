//! Property tests of the context-key derivation over generated JSONLogic:
//! it names exactly the keys the generator read from the context (none read
//! from an iterated element), and those keys are all an expression's value
//! depends on, as datalogic-rs evaluates it.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::context::{keys, lookup, reads};
use crate::logic;

/// Scalar keys of the context, one of them nested.
const SCALARS: [&str; 4] = ["amount", "district", "flag", "beneficiary.age"];
/// Keys of an element of `items`; deliberately also names of context keys.
const ELEMENT_KEYS: [&str; 2] = ["amount", "flag"];

type Generated = (Value, BTreeSet<String>);

fn one(key: &str) -> BTreeSet<String> {
    BTreeSet::from([key.to_owned()])
}

/// An expression over an element of `items`: it reads no context key.
fn body() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (0..ELEMENT_KEYS.len()).prop_map(|k| json!({"var": ELEMENT_KEYS[k]})),
        (0..ELEMENT_KEYS.len(), 0..5i64).prop_map(|(k, d)| json!({"var": [ELEMENT_KEYS[k], d]})),
        (0..10i64).prop_map(|n| json!(n)),
        (0..ELEMENT_KEYS.len()).prop_map(|k| json!({"missing": [ELEMENT_KEYS[k]]})),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        (inner.clone(), inner, prop_oneof![Just("<"), Just("=="), Just("or"), Just("+")])
            .prop_map(|(a, b, op)| json!({ op: [a, b] }))
    })
}

/// An expression over the context, with the keys it reads from it.
fn expression() -> impl Strategy<Value = Generated> {
    let leaf = prop_oneof![
        (0..10i64).prop_map(|n| (json!(n), BTreeSet::new())),
        (0..SCALARS.len()).prop_map(|k| (json!({"var": SCALARS[k]}), one(SCALARS[k]))),
        (0..SCALARS.len(), 0..5i64).prop_map(|(k, d)| (json!({"var": [SCALARS[k], d]}), one(SCALARS[k]))),
        (0..SCALARS.len()).prop_map(|k| (json!({"missing": [SCALARS[k]]}), one(SCALARS[k]))),
        (0..SCALARS.len()).prop_map(|k| {
            let segments: Vec<&str> = SCALARS[k].split('.').collect();
            (json!({ "val": segments }), one(SCALARS[k]))
        }),
        (prop_oneof![Just("filter"), Just("some"), Just("all"), Just("none"), Just("map")], body())
            .prop_map(|(op, b)| (json!({ op: [{"var": "items"}, b] }), one("items"))),
        (body(), 0..3i64).prop_map(|(b, start)| {
            let step = json!({"+": [{"var": "accumulator"}, {"if": [b, 1, 0]}]});
            (json!({"reduce": [{"var": "items"}, step, start]}), one("items"))
        }),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), prop_oneof![Just("=="), Just("<"), Just("and"), Just("or"), Just("+")])
                .prop_map(|((a, ka), (b, kb), op)| (json!({ op: [a, b] }), &ka | &kb)),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|((c, kc), (a, ka), (b, kb))| (json!({"if": [c, a, b]}), &(&kc | &ka) | &kb)),
            inner.clone().prop_map(|(a, ka)| (json!({"!": [a]}), ka)),
            // A default is evaluated against the context too.
            (0..SCALARS.len(), inner)
                .prop_map(|(k, (d, kd))| (json!({"var": [SCALARS[k], d]}), &one(SCALARS[k]) | &kd)),
        ]
    })
}

fn context() -> impl Strategy<Value = Value> {
    let element = (0..20i64, any::<bool>()).prop_map(|(a, f)| json!({"amount": a, "flag": f}));
    (
        proptest::option::of(0..20i64),
        proptest::option::of(prop_oneof![Just("D1"), Just("D2")]),
        proptest::option::of(any::<bool>()),
        proptest::option::of(0..99i64),
        proptest::option::of(proptest::collection::vec(element, 0..4)),
    )
        .prop_map(|(amount, district, flag, age, items)| {
            let mut c = Map::new();
            amount.map(|v| c.insert("amount".into(), json!(v)));
            district.map(|v| c.insert("district".into(), json!(v)));
            flag.map(|v| c.insert("flag".into(), json!(v)));
            age.map(|v| c.insert("beneficiary".into(), json!({"age": v, "name": "n"})));
            items.map(|v| c.insert("items".into(), json!(v)));
            // A key nobody reads, which must not matter.
            c.insert("unrelated".into(), json!("x"));
            Value::Object(c)
        })
}

/// `context` with only the given keys kept, nested ones at their path.
fn only(context: &Value, keys: &[String]) -> Value {
    let mut out = json!({});
    for key in keys {
        let Some(value) = lookup(context, key) else { continue };
        let mut at = &mut out;
        let parts: Vec<&str> = key.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            at = at.as_object_mut().expect("objects on the way").entry(*part).or_insert_with(|| json!({}));
        }
        at.as_object_mut().expect("an object").insert(parts[parts.len() - 1].to_owned(), value.clone());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_derived_keys_are_exactly_those_read_from_the_context((expr, read) in expression()) {
        let derived = keys(&reads(&expr, "skip_if"));
        prop_assert_eq!(derived, read.into_iter().collect::<Vec<_>>(), "in {}", expr);
    }

    #[test]
    fn an_expression_gives_the_same_answer_on_only_its_derived_keys(
        (expr, _) in expression(), context in context()
    ) {
        let compiled = logic::compile(&expr).expect("generated JSONLogic compiles");
        let derived = keys(&reads(&expr, "skip_if"));
        let narrowed = only(&context, &derived);
        prop_assert_eq!(
            logic::evaluate(&compiled, &context).ok(),
            logic::evaluate(&compiled, &narrowed).ok(),
            "{} on {} and on {}", expr, context, narrowed
        );
    }
}
