//! Fuzz the qubesd reply parser, the incremental event parser and the
//! typed output parsers on top of them. Invariants checked beyond "no panic":
//! feeding an event stream in two pieces gives the same result as whole,
//! and OK data is a suffix of the reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qubesadmin::app::{Property, parse_property_get_all, parse_vm_list};
use qubesadmin::wire::{EventParser, parse_reply};

fn events(pieces: &[&[u8]]) -> (Vec<qubesadmin::Event>, bool) {
    let mut parser = EventParser::with_frame_limit(4096);
    let mut events = Vec::new();
    for piece in pieces {
        if parser.feed(piece, &mut events).is_err() {
            return (events, false);
        }
    }
    let ok = parser.finish().is_ok();
    (events, ok)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = parse_reply(data) {
        assert!(data.ends_with(body));
        if let Ok(text) = std::str::from_utf8(body) {
            let _ = parse_vm_list(text);
            let _ = Property::parse(text);
            let _ = parse_property_get_all("admin.vm.property.GetAll", text);
        }
    }
    let split = data.first().map_or(0, |b| usize::from(*b)) % (data.len() + 1);
    let whole = events(&[data]);
    let halves = events(&[&data[..split], &data[split..]]);
    assert_eq!(whole, halves);
});
