//! The custom-persist state of many qubes at once, with the fewest calls.
//!
//! For N qubes this costs N `admin.vm.feature.List` calls plus one
//! `admin.vm.feature.Get` per feature that matters (`service.custom-persist`
//! and every `custom-persist.*` the lists showed) — nothing else — run with
//! the app's bounded parallelism. Together with the `admin.vm.List` that
//! produced the qubes that is `1 + N + (number of custom-persist features)`.

use crate::app::{Qubes, Vm};
use crate::error::Error;
use crate::validate::{self, CUSTOM_PERSIST_PREFIX, CustomPersistEntry, ValidationError};

/// Feature that turns custom-persist on for a qube (R4.3+).
pub const CUSTOM_PERSIST_SERVICE: &str = "service.custom-persist";

/// One `custom-persist.<key>` feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomPersistFeature {
    /// The part after `custom-persist.`.
    pub key: String,
    /// The value exactly as stored.
    pub value: String,
    /// The parsed value. qubesd keeps invalid values (it checks them only
    /// after storing), so an invalid one is reported here, not hidden.
    pub entry: Result<CustomPersistEntry, ValidationError>,
}

/// What a qube's features say about custom-persist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomPersistState {
    /// Value of `service.custom-persist`: `None` if not set, `""` = off.
    pub service: Option<String>,
    /// Every `custom-persist.*` feature, in qubesd's order.
    pub features: Vec<CustomPersistFeature>,
}

impl CustomPersistState {
    /// True when the service is on (a non-empty value, as qubes' features).
    pub fn enabled(&self) -> bool {
        self.service.as_deref().is_some_and(|v| !v.is_empty())
    }
}

fn is_custom_persist_feature(name: &str) -> bool {
    name == CUSTOM_PERSIST_SERVICE || name.starts_with(CUSTOM_PERSIST_PREFIX)
}

impl Qubes {
    /// The custom-persist state of each qube, in input order. A qube whose
    /// calls fail gets its own error; the others are unaffected. A feature
    /// removed between the List and its Get is left out.
    pub fn custom_persist_state(&self, vms: &[Vm]) -> Vec<Result<CustomPersistState, Error>> {
        let lists = self.map_parallel(vms, |vm| vm.features().list());
        // One Get per relevant feature, across all qubes, in one bounded pool.
        let wanted: Vec<(usize, String)> = lists
            .iter()
            .enumerate()
            .filter_map(|(index, list)| list.as_ref().ok().map(|names| (index, names)))
            .flat_map(|(index, names)| {
                names
                    .iter()
                    .filter(|name| is_custom_persist_feature(name))
                    .map(move |name| (index, name.clone()))
            })
            .collect();
        let values = self.map_parallel(&wanted, |(index, name)| vms[*index].features().get(name));

        let mut states: Vec<Result<CustomPersistState, Error>> = lists
            .into_iter()
            .map(|list| list.map(|_| CustomPersistState::default()))
            .collect();
        for ((index, name), value) in wanted.into_iter().zip(values) {
            let Some(Ok(state)) = states.get_mut(index) else {
                continue;
            };
            match value {
                Ok(None) => {}
                Ok(Some(value)) if name == CUSTOM_PERSIST_SERVICE => state.service = Some(value),
                Ok(Some(value)) => {
                    let key = name[CUSTOM_PERSIST_PREFIX.len()..].to_owned();
                    let entry = validate::custom_persist_key(&key)
                        .and_then(|()| validate::custom_persist_value(&value));
                    state
                        .features
                        .push(CustomPersistFeature { key, value, entry });
                }
                Err(error) => states[index] = Err(error),
            }
        }
        states
    }
}
