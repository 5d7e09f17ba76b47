//! Default model prices (`pricing.toml`), the seed of the storage's pricing table.

use std::collections::BTreeMap;

use serde::Deserialize;

const DEFAULTS: &str = include_str!("../pricing.toml");

/// A model's list price, US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListPrice {
    /// Uncached input.
    pub input: f64,
    /// Output, reasoning included.
    pub output: f64,
    /// Cached input.
    pub cached: f64,
}

#[derive(Deserialize)]
struct File {
    prices: BTreeMap<String, [f64; 3]>,
}

/// The built-in prices by `provider/model`. An unreadable table (a build defect, caught by the
/// tests) yields none rather than failing start-up.
pub fn default_prices() -> Vec<(String, ListPrice)> {
    toml::from_str::<File>(DEFAULTS).map_or_else(
        |_| Vec::new(),
        |f| {
            f.prices
                .into_iter()
                .map(|(m, [input, output, cached])| (m, ListPrice { input, output, cached }))
                .collect()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn every_default_price_names_a_built_in_model() {
        let prices = default_prices();
        assert!(prices.len() >= 20, "the table parses");
        let registry = Registry::builtin().unwrap();
        for (model, p) in &prices {
            let (provider, name) = model.split_once('/').unwrap();
            let provider = registry.get(provider).unwrap_or_else(|| panic!("{model}: no provider"));
            assert!(provider.models.iter().any(|m| m == name), "{model}: not a listed model");
            assert!(p.input >= 0.0 && p.output >= 0.0 && p.cached <= p.input.max(p.cached));
        }
    }
}
