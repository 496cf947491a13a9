//! Property-style robustness test of the reply and event parsers without
//! nightly tools: a few thousand inputs mutated from recorded qubesd bytes
//! by a small deterministic PRNG. Properties: no panic; feeding an event
//! stream in random chunks gives exactly what feeding it whole gives; a
//! successful reply's data is a suffix of the input.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qubesadmin::app::{Property, parse_property_get_all, parse_vm_list};
use qubesadmin::wire::{EventParser, parse_reply};
use serde_json::Value;

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = std::env::var_os("QCS_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sim/tests/golden"));
    let mut seeds: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"0\0".to_vec(),
        b"2\0QubesFeatureNotFoundError\0\0Feature not set for domain w: x\0".to_vec(),
        b"1\0\0connection-established\0\0".to_vec(),
        b"1\0vm\0domain-feature-set:x\0feature\0x\0value\0\0oldvalue\0None\0\0".to_vec(),
    ];
    for (file, field) in [
        ("transcripts.jsonl", "response_b64"),
        ("events.jsonl", "stream_b64"),
    ] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        for line in text.lines() {
            let Ok(record) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(Ok(bytes)) = record[field].as_str().map(|s| STANDARD.decode(s)) {
                seeds.push(bytes);
            }
        }
    }
    seeds
}

const INTERESTING: &[u8] = b"\x00012 =\n\\\xff\x80";

fn mutate(rng: &mut Rng, input: &[u8], donor: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(len + 1);
                out.insert(at, INTERESTING[rng.below(INTERESTING.len())]);
            }
            2 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                out.drain(at..end);
            }
            3 => out.truncate(rng.below(len + 1)),
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(32)).min(len);
                let piece = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, piece);
            }
            5 if !donor.is_empty() => {
                let at = rng.below(donor.len());
                let end = (at + 1 + rng.below(64)).min(donor.len());
                let to = rng.below(len + 1);
                out.splice(to..to, donor[at..end].iter().copied());
            }
            6 => {
                let at = rng.below(len + 1);
                let n = rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            _ if len > 0 => {
                let at = rng.below(len);
                out[at] = INTERESTING[rng.below(INTERESTING.len())];
            }
            _ => out.push(b'1'),
        }
    }
    out
}

fn events_whole(input: &[u8]) -> (Vec<qubesadmin::Event>, bool, bool) {
    let mut parser = EventParser::new();
    let mut events = Vec::new();
    let fed = parser.feed(input, &mut events).is_ok();
    let finished = fed && parser.finish().is_ok();
    (events, fed, finished)
}

fn events_chunked(rng: &mut Rng, input: &[u8]) -> (Vec<qubesadmin::Event>, bool, bool) {
    let mut parser = EventParser::new();
    let mut events = Vec::new();
    let mut rest = input;
    let mut fed = true;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(17));
        if parser.feed(&rest[..n], &mut events).is_err() {
            fed = false;
            break;
        }
        rest = &rest[n..];
    }
    let finished = fed && parser.finish().is_ok();
    (events, fed, finished)
}

#[test]
fn mutated_replies_and_streams_never_panic_and_chunking_is_invisible() {
    let seeds = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut inputs = 0;
    let mut ok_replies = 0;
    let mut events_seen = 0;
    for round in 0..8000 {
        let seed = &seeds[round % seeds.len()];
        let donor = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, donor);
        inputs += 1;

        if let Ok(data) = parse_reply(&input) {
            assert!(input.ends_with(data));
            ok_replies += 1;
            // The typed layers on top must not panic on whatever data came back.
            if let Ok(text) = std::str::from_utf8(data) {
                let _ = parse_vm_list(text);
                let _ = Property::parse(text);
                let _ = parse_property_get_all("admin.vm.property.GetAll", text);
            }
        }

        let whole = events_whole(&input);
        let chunked = events_chunked(&mut rng, &input);
        assert_eq!(whole, chunked, "chunking changed the result for {input:?}");
        events_seen += whole.0.len();
    }
    println!("{inputs} mutated inputs, {ok_replies} parsed as OK replies, {events_seen} events");
    assert!(
        ok_replies > 100 && events_seen > 100,
        "mutations too destructive to be useful"
    );
}
