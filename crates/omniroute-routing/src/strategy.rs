//! The ordering strategies of a combo. A strategy only *orders* targets; the caller then skips
//! the ones that cannot serve the request. `order` always returns every index exactly once, and
//! never puts a target with `available == false` ahead of one with `available == true`: a
//! tripped, cooling, locked or over-quota target is tried only when nothing else is left.
//!
//! Every strategy first produces its own order, then one stable partition moves the unavailable
//! targets to the back. The stateful strategies (`weighted` stickiness, `round-robin`,
//! `strict-random`) keep their memory in a per-combo `ComboState` and advance it on every call,
//! whether or not the target they put first turns out to be available.
//!
//! Inputs are treated defensively, because they come from live measurements: health and headroom
//! are clamped to 0..=1 (NaN counts as 0), and a price or latency that is negative or not finite
//! counts as unknown.

use std::cmp::Ordering as Cmp;

/// Declares `Strategy` with one doc comment per variant and derives `ALL`, `id` and `describe`
/// from the same lines, so the rustdoc and the text shown to users cannot drift apart.
macro_rules! strategies {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $id:literal, )+) => {
        /// How a combo orders its targets.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Strategy {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Strategy {
            /// Every strategy, in declaration order.
            pub const ALL: &'static [Strategy] = &[$(Strategy::$variant),+];

            /// The id used in configuration, the management API and the CLI.
            pub fn id(self) -> &'static str {
                match self {
                    $( Strategy::$variant => $id, )+
                }
            }

            /// What the strategy does, as one paragraph of plain English for users (the same
            /// text as the variant's doc comment).
            pub fn describe(self) -> &'static str {
                match self {
                    $( Strategy::$variant => concat!($($doc),+).trim_ascii_start(), )+
                }
            }
        }
    };
}

strategies! {
    /// Tries the targets in the order the combo lists them: the first one gets every request,
    /// and the next one is used only when the ones before it fail or are unavailable.
    Priority = "priority",
    /// Spreads requests by weight: the first target is drawn at random with a chance
    /// proportional to its weight (evenly if every weight is 0), and the others follow from the
    /// highest weight to the lowest. With a sticky limit above 1, the drawn target stays first
    /// for that many requests in a row before the next draw.
    Weighted = "weighted",
    /// Keeps sending requests to the first target in the combo until it fails or becomes
    /// unavailable (for example when its quota runs out), then fills the next one. Across a
    /// combo this is the same order as priority; the name states the intent of using up one
    /// account before touching the next.
    FillFirst = "fill-first",
    /// Takes turns: each request starts at the next target in the combo, wrapping around at the
    /// end, and falls back to the targets after it. With a sticky limit of N, each target stays
    /// the starting point for N requests in a row.
    RoundRobin = "round-robin",
    /// Power of two choices: draws two different targets at random and starts with the
    /// healthier one (on a tie, the faster one, then the one listed first); the rest follow from
    /// the healthiest to the least healthy. This spreads load while steering away from
    /// struggling targets.
    P2c = "p2c",
    /// Shuffles the targets for every request, so each one is equally likely to be tried first.
    Random = "random",
    /// Deals the targets like a shuffled deck: every target is tried first exactly once before
    /// the deck is reshuffled, so load is even over each round while the order stays
    /// unpredictable. The remaining targets are shuffled. Changing the number of targets starts
    /// a new deck.
    StrictRandom = "strict-random",
    /// Starts with the target that has served the fewest requests so far, evening out use over
    /// time; ties keep the combo's order.
    LeastUsed = "least-used",
    /// Starts with the cheapest target by blended price per million tokens, then the next
    /// cheapest; targets without a known price come last, in the combo's order.
    CostOptimized = "cost-optimized",
    /// Last known good provider: starts with the target that served this combo's last
    /// successful request, then the rest in the combo's order.
    Lkgp = "lkgp",
    /// Starts with the target that has the largest context window, for long prompts; targets
    /// whose context window is unknown come last.
    ContextOptimized = "context-optimized",
    /// Scores every target and starts with the best: health counts 30%, remaining quota 15%,
    /// price 20% (the cheapest scores best), latency 15% (the fastest scores best), support for
    /// the tools or images the request uses 10%, and a context window large enough for the
    /// prompt 10%. An unknown price or latency earns half marks, and an unknown quota counts as
    /// full.
    Auto = "auto",
    /// Orders targets as priority does. When a conversation nears the current target's context
    /// or quota limit, the gateway moves it to the next target in this order and carries a
    /// summary of the conversation so far.
    ContextRelay = "context-relay",
    /// Starts with the target that has the most quota left in its current window; a target with
    /// no known quota counts as full, and ties keep the combo's order.
    Headroom = "headroom",
    /// Prefers the targets with the most quota left, but among those within 5 percentage points
    /// of the best, starts with the one whose quota window resets soonest, because quota that is
    /// about to be refilled is the cheapest to spend. A target with an unknown reset time is not
    /// preferred. The rest follow from the most to the least quota left.
    ResetAware = "reset-aware",
}

impl Strategy {
    /// Parses a strategy id, or one of the aliases `usage` (least-used), `context`
    /// (context-optimized) and `reset-window` (reset-aware). Ids are matched exactly.
    pub fn parse(id: &str) -> Option<Strategy> {
        match id {
            "usage" => Some(Strategy::LeastUsed),
            "context" => Some(Strategy::ContextOptimized),
            "reset-window" => Some(Strategy::ResetAware),
            _ => Strategy::ALL.iter().copied().find(|s| s.id() == id),
        }
    }
}

/// What a strategy knows about one target (one `provider/model`, after combo expansion).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetView {
    /// Relative weight for `weighted` (0 = never first unless all are 0).
    pub weight: u32,
    /// Blended price, USD per million tokens (input + output) / 2; `None` = unknown.
    pub price: Option<f64>,
    /// Context window in tokens; `None` = unknown.
    pub context_window: Option<u64>,
    /// Health score in 0..=1 (success rate, latency, breaker), from `health`.
    pub health: f64,
    /// Not tripped, cooling down, locked out or over its quota threshold.
    pub available: bool,
    /// Requests routed to it so far.
    pub uses: u64,
    /// It served this combo's last successful request.
    pub last_good: bool,
    /// Remaining quota fraction in 0..=1; `None` = no quota known (treated as 1).
    pub headroom: Option<f64>,
    /// Milliseconds until its quota window resets; `None` = unknown.
    pub reset_in_ms: Option<u64>,
    /// Median latency in ms; `None` = no data.
    pub latency_ms: Option<f64>,
    /// The model accepts tools / images.
    pub tools: bool,
    pub vision: bool,
}

/// What the request needs, for `auto`'s fit factors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestNeeds {
    pub tools: bool,
    pub vision: bool,
    /// Estimated prompt tokens.
    pub tokens: u64,
}

/// Per-combo settings a strategy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyConfig {
    /// `round-robin` (and `weighted`): keep the chosen target for this many consecutive
    /// requests before moving on (1 = rotate every request).
    pub sticky_limit: u32,
}

/// Mutable per-combo memory (round-robin position, the strict-random deck, stickiness).
///
/// Start each combo with `ComboState::default()` and pass the same value to every `order` call
/// for that combo. The fields are private: the gateway only keeps the value, it does not read it.
#[derive(Debug, Clone, Default)]
pub struct ComboState {
    /// `round-robin`: the index the current turn starts at (taken modulo the target count).
    rr_start: usize,
    /// `round-robin`: how many calls the current start has been used for.
    rr_streak: u32,
    /// `weighted`: the last draw, kept while `sticky_limit > 1`.
    weighted: Option<WeightedPick>,
    /// `strict-random`: the targets not yet dealt first in this round; dealt from the back.
    deck: Vec<usize>,
    /// `strict-random`: the target count the deck was built for.
    deck_len: usize,
}

/// The target `weighted` drew, and how many calls it has been first for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WeightedPick {
    index: usize,
    streak: u32,
    /// The target count at the time of the draw; a different count means different indices.
    len: usize,
}

/// The result: indices into the targets, best first, and one line per target explaining its
/// place (for `omniroute-cli route explain`), in the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordering {
    pub order: Vec<usize>,
    pub explain: Vec<String>,
}

/// Orders `targets` by `strategy`.
pub fn order(
    strategy: Strategy,
    targets: &[TargetView],
    needs: &RequestNeeds,
    state: &mut ComboState,
    config: &StrategyConfig,
    rng: &mut fastrand::Rng,
) -> Ordering {
    if targets.is_empty() {
        return Ordering { order: Vec::new(), explain: Vec::new() };
    }
    let placed = match strategy {
        Strategy::Priority | Strategy::FillFirst | Strategy::ContextRelay => configured(targets),
        Strategy::Weighted => weighted(targets, state, config, rng),
        Strategy::RoundRobin => round_robin(targets, state, config),
        Strategy::P2c => p2c(targets, rng),
        Strategy::Random => random(targets, rng),
        Strategy::StrictRandom => strict_random(targets, state, rng),
        Strategy::LeastUsed => least_used(targets),
        Strategy::CostOptimized => cost_optimized(targets),
        Strategy::Lkgp => lkgp(targets),
        Strategy::ContextOptimized => context_optimized(targets),
        Strategy::Auto => auto(targets, needs),
        Strategy::Headroom => headroom(targets),
        Strategy::ResetAware => reset_aware(targets),
    };
    available_first(targets, placed)
}

/// One place in a strategy's order, before the availability partition.
struct Placed {
    index: usize,
    why: String,
}

impl Placed {
    fn new(index: usize, why: impl Into<String>) -> Placed {
        Placed { index, why: why.into() }
    }
}

/// The stable partition every strategy ends with: available targets first, each group keeping
/// the strategy's order.
fn available_first(targets: &[TargetView], placed: Vec<Placed>) -> Ordering {
    let (up, down): (Vec<Placed>, Vec<Placed>) =
        placed.into_iter().partition(|p| targets.get(p.index).is_some_and(|t| t.available));
    let mut ordering = Ordering {
        order: Vec::with_capacity(targets.len()),
        explain: Vec::with_capacity(targets.len()),
    };
    for p in up {
        ordering.order.push(p.index);
        ordering.explain.push(p.why);
    }
    for p in down {
        ordering.order.push(p.index);
        ordering.explain.push(format!("unavailable: tried last ({})", p.why));
    }
    ordering
}

/// `(index, target)` pairs in configured order, the input of every sort below. Sorting these
/// with the stable `sort_by` keeps ties in configured order.
fn entries(targets: &[TargetView]) -> Vec<(usize, &TargetView)> {
    targets.iter().enumerate().collect()
}

fn position(index: usize) -> String {
    format!("position {} in the combo", index + 1)
}

fn configured(targets: &[TargetView]) -> Vec<Placed> {
    (0..targets.len()).map(|i| Placed::new(i, position(i))).collect()
}

fn weighted(
    targets: &[TargetView],
    state: &mut ComboState,
    config: &StrategyConfig,
    rng: &mut fastrand::Rng,
) -> Vec<Placed> {
    let n = targets.len();
    let total: u64 = targets.iter().map(|t| u64::from(t.weight)).sum();
    let sticky = config.sticky_limit.max(1);
    let kept =
        state.weighted.filter(|p| sticky > 1 && p.len == n && p.index < n && p.streak < sticky);
    let (first, how) = match kept {
        Some(p) => {
            let streak = p.streak.saturating_add(1);
            state.weighted = Some(WeightedPick { streak, ..p });
            (p.index, format!("kept from an earlier draw, request {streak} of {sticky}"))
        }
        None => {
            let index = draw_weighted(targets, total, rng);
            state.weighted = Some(WeightedPick { index, streak: 1, len: n });
            let how =
                if total == 0 { "drawn first, evenly (every weight is 0)" } else { "drawn first" };
            (index, how.to_owned())
        }
    };
    let mut placed = Vec::with_capacity(n);
    let mut rest = Vec::with_capacity(n);
    for (i, t) in entries(targets) {
        if i == first {
            placed.push(Placed::new(i, format!("weight {} of {total}: {how}", t.weight)));
        } else {
            rest.push((i, t));
        }
    }
    rest.sort_by_key(|(_, t)| std::cmp::Reverse(t.weight));
    placed.extend(
        rest.into_iter().map(|(i, t)| Placed::new(i, format!("weight {} of {total}", t.weight))),
    );
    placed
}

/// Draws one index with probability weight / total, or uniformly when `total` is 0.
/// `targets` must not be empty and `total` must be the sum of the weights.
fn draw_weighted(targets: &[TargetView], total: u64, rng: &mut fastrand::Rng) -> usize {
    let n = targets.len();
    if total == 0 {
        return rng.usize(0..n);
    }
    let mut ticket = rng.u64(0..total);
    for (i, t) in targets.iter().enumerate() {
        let w = u64::from(t.weight);
        if ticket < w {
            return i;
        }
        ticket -= w;
    }
    // Unreachable while `total` is the sum of the weights; the last target is a safe answer.
    n - 1
}

fn round_robin(
    targets: &[TargetView],
    state: &mut ComboState,
    config: &StrategyConfig,
) -> Vec<Placed> {
    let n = targets.len();
    let sticky = config.sticky_limit.max(1);
    if state.rr_streak >= sticky {
        state.rr_start = state.rr_start.wrapping_add(1);
        state.rr_streak = 0;
    }
    let start = state.rr_start % n;
    state.rr_start = start;
    state.rr_streak = state.rr_streak.saturating_add(1);
    let mut placed = Vec::with_capacity(n);
    placed.push(Placed::new(
        start,
        format!("round-robin start, request {} of {sticky}", state.rr_streak),
    ));
    for k in 1..n {
        placed.push(Placed::new((start + k) % n, "after the round-robin start, in combo order"));
    }
    placed
}

/// Two distinct indices drawn uniformly; `n` must be at least 2.
fn draw_two(n: usize, rng: &mut fastrand::Rng) -> (usize, usize) {
    let a = rng.usize(0..n);
    let mut b = rng.usize(0..n - 1);
    if b >= a {
        b += 1;
    }
    (a, b)
}

fn p2c(targets: &[TargetView], rng: &mut fastrand::Rng) -> Vec<Placed> {
    let n = targets.len();
    let mut rest = entries(targets);
    if n < 2 {
        return rest
            .into_iter()
            .map(|(i, t)| Placed::new(i, format!("health {:.2}: the only target", health(t))))
            .collect();
    }
    let (a, b) = draw_two(n, rng);
    let (ta, tb) = (&targets[a], &targets[b]);
    let a_wins = match health(tb).total_cmp(&health(ta)) {
        Cmp::Equal => match known_asc(latency(ta), latency(tb)) {
            Cmp::Equal => a < b,
            other => other == Cmp::Less,
        },
        other => other == Cmp::Less,
    };
    let (winner, loser) = if a_wins { (a, b) } else { (b, a) };
    let (tw, tl) = if a_wins { (ta, tb) } else { (tb, ta) };
    let why = if health(tw) != health(tl) {
        format!("health {:.2} beat {:.2} in the two-choice draw", health(tw), health(tl))
    } else if known_asc(latency(tw), latency(tl)) != Cmp::Equal {
        format!(
            "health {:.2} tied, latency {} beat {} in the two-choice draw",
            health(tw),
            show_latency(tw),
            show_latency(tl)
        )
    } else {
        format!("health {:.2} and latency tied, listed first: won the two-choice draw", health(tw))
    };
    let mut placed = Vec::with_capacity(n);
    placed.push(Placed::new(winner, why));
    rest.retain(|(i, _)| *i != winner);
    rest.sort_by(|x, y| health(y.1).total_cmp(&health(x.1)));
    placed.extend(rest.into_iter().map(|(i, t)| {
        let lost = if i == loser { " (lost the two-choice draw)" } else { "" };
        Placed::new(i, format!("health {:.2}{lost}", health(t)))
    }));
    placed
}

fn random(targets: &[TargetView], rng: &mut fastrand::Rng) -> Vec<Placed> {
    let mut indices: Vec<usize> = (0..targets.len()).collect();
    rng.shuffle(&mut indices);
    indices.into_iter().map(|i| Placed::new(i, "shuffled")).collect()
}

fn strict_random(
    targets: &[TargetView],
    state: &mut ComboState,
    rng: &mut fastrand::Rng,
) -> Vec<Placed> {
    let n = targets.len();
    if state.deck_len != n || state.deck.is_empty() {
        state.deck = (0..n).collect();
        rng.shuffle(&mut state.deck);
        state.deck_len = n;
    }
    // The deck is rebuilt above whenever it is empty or was built for another count, so `pop`
    // yields an index below `n`; the fallback only keeps this total.
    let first = state.deck.pop().filter(|&i| i < n).unwrap_or(0);
    let mut rest: Vec<usize> = (0..n).filter(|&i| i != first).collect();
    rng.shuffle(&mut rest);
    let mut placed = Vec::with_capacity(n);
    placed.push(Placed::new(
        first,
        format!("dealt from the deck, {} of {n} left before a reshuffle", state.deck.len()),
    ));
    placed.extend(rest.into_iter().map(|i| Placed::new(i, "shuffled")));
    placed
}

fn least_used(targets: &[TargetView]) -> Vec<Placed> {
    let mut sorted = entries(targets);
    sorted.sort_by_key(|(_, t)| t.uses);
    sorted
        .into_iter()
        .map(|(i, t)| {
            let plural = if t.uses == 1 { "" } else { "s" };
            Placed::new(i, format!("used {} time{plural}", t.uses))
        })
        .collect()
}

fn cost_optimized(targets: &[TargetView]) -> Vec<Placed> {
    let mut sorted = entries(targets);
    sorted.sort_by(|a, b| known_asc(price(a.1), price(b.1)));
    sorted
        .into_iter()
        .map(|(i, t)| match price(t) {
            Some(p) => Placed::new(i, format!("price {}", show_price(p))),
            None => Placed::new(i, "price unknown: after the priced targets"),
        })
        .collect()
}

fn lkgp(targets: &[TargetView]) -> Vec<Placed> {
    let (good, other): (Vec<_>, Vec<_>) =
        entries(targets).into_iter().partition(|(_, t)| t.last_good);
    let good = good.into_iter().map(|(i, _)| Placed::new(i, "last known good"));
    good.chain(other.into_iter().map(|(i, _)| Placed::new(i, position(i)))).collect()
}

fn context_optimized(targets: &[TargetView]) -> Vec<Placed> {
    let mut sorted = entries(targets);
    sorted.sort_by(|a, b| match (a.1.context_window, b.1.context_window) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Cmp::Less,
        (None, Some(_)) => Cmp::Greater,
        (None, None) => Cmp::Equal,
    });
    sorted
        .into_iter()
        .map(|(i, t)| match t.context_window {
            Some(w) => Placed::new(i, format!("context window {w} tokens")),
            None => Placed::new(i, "context window unknown: after the known ones"),
        })
        .collect()
}

/// The weight of each `auto` factor, in the order `auto_score` reports them.
const AUTO_WEIGHTS: [(&str, f64); 6] = [
    ("health", 0.30),
    ("headroom", 0.15),
    ("cost", 0.20),
    ("latency", 0.15),
    ("capability", 0.10),
    ("context", 0.10),
];

/// The cheapest known price and the lowest known latency among all targets, the references for
/// `auto`'s cost and latency factors.
#[derive(Debug, Clone, Copy)]
struct AutoBaseline {
    min_price: Option<f64>,
    min_latency: Option<f64>,
}

impl AutoBaseline {
    fn of(all: &[TargetView]) -> AutoBaseline {
        AutoBaseline {
            min_price: all.iter().filter_map(price).reduce(f64::min),
            min_latency: all.iter().filter_map(latency).reduce(f64::min),
        }
    }
}

/// `auto`'s score for `t` among `all`: the total in 0..=1 and each factor as
/// `(name, weight, value)`, the value in 0..=1. The total is the sum of weight × value.
pub fn auto_score(
    t: &TargetView,
    all: &[TargetView],
    needs: &RequestNeeds,
) -> (f64, Vec<(&'static str, f64, f64)>) {
    score_with(t, AutoBaseline::of(all), needs)
}

fn score_with(
    t: &TargetView,
    base: AutoBaseline,
    needs: &RequestNeeds,
) -> (f64, Vec<(&'static str, f64, f64)>) {
    let capable = (!needs.tools || t.tools) && (!needs.vision || t.vision);
    let fits = t.context_window.is_none_or(|w| w >= needs.tokens);
    let values = [
        health(t),
        headroom_of(t),
        relative_to_best(price(t), base.min_price),
        relative_to_best(latency(t), base.min_latency),
        if capable { 1.0 } else { 0.0 },
        if fits { 1.0 } else { 0.0 },
    ];
    let factors: Vec<(&'static str, f64, f64)> = AUTO_WEIGHTS
        .iter()
        .zip(values)
        .map(|(&(name, weight), value)| (name, weight, value))
        .collect();
    let total = factors.iter().map(|(_, weight, value)| weight * value).sum();
    (total, factors)
}

/// 1 for the best (lowest) known value, best / value for the others, 0.5 when unknown.
fn relative_to_best(value: Option<f64>, best: Option<f64>) -> f64 {
    match (value, best) {
        // `v > b >= 0` here, so the division is by a positive number.
        (Some(v), Some(b)) if v > b => b / v,
        (Some(_), _) => 1.0,
        (None, _) => 0.5,
    }
}

fn auto(targets: &[TargetView], needs: &RequestNeeds) -> Vec<Placed> {
    let base = AutoBaseline::of(targets);
    let mut scored: Vec<(usize, f64, String)> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (total, factors) = score_with(t, base, needs);
            let terms: Vec<String> = factors
                .iter()
                .map(|(name, weight, value)| format!("{name} {weight:.2}×{value:.2}"))
                .collect();
            (i, total, format!("score {total:.3} = {}", terms.join(" + ")))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.into_iter().map(|(i, _, why)| Placed::new(i, why)).collect()
}

fn headroom(targets: &[TargetView]) -> Vec<Placed> {
    let mut sorted = entries(targets);
    sorted.sort_by(|a, b| headroom_of(b.1).total_cmp(&headroom_of(a.1)));
    sorted.into_iter().map(|(i, t)| Placed::new(i, show_headroom(t))).collect()
}

/// How far below the best headroom `reset-aware` still counts a target as "as good".
const RESET_BAND: f64 = 0.05;
/// Slack for the band's float comparison, so that 0.95 counts as within 0.05 of 1.0.
const BAND_EPSILON: f64 = 1e-9;

fn reset_aware(targets: &[TargetView]) -> Vec<Placed> {
    let best = targets.iter().map(headroom_of).fold(0.0, f64::max);
    let floor = best - RESET_BAND - BAND_EPSILON;
    let in_band = |t: &TargetView| headroom_of(t) >= floor;
    // Within the band: the soonest known reset, then the higher headroom, then combo order.
    let first = entries(targets)
        .into_iter()
        .filter(|(_, t)| in_band(t))
        .min_by(|a, b| {
            let (ra, rb) = (a.1.reset_in_ms, b.1.reset_in_ms);
            // `false < true`: known resets first, then the soonest.
            (ra.is_none(), ra)
                .cmp(&(rb.is_none(), rb))
                .then_with(|| headroom_of(b.1).total_cmp(&headroom_of(a.1)))
                .then_with(|| a.0.cmp(&b.0))
        })
        .map_or(0, |(i, _)| i);
    let mut placed = Vec::with_capacity(targets.len());
    let mut rest = Vec::with_capacity(targets.len());
    for (i, t) in entries(targets) {
        if i == first {
            let reset = match t.reset_in_ms {
                Some(ms) => format!("resets soonest, in {}", show_ms(ms)),
                None => "reset time unknown".to_owned(),
            };
            placed.push(Placed::new(
                i,
                format!("{}, within {RESET_BAND} of the best; {reset}", show_headroom(t)),
            ));
        } else {
            rest.push((i, t));
        }
    }
    rest.sort_by(|a, b| headroom_of(b.1).total_cmp(&headroom_of(a.1)));
    placed.extend(rest.into_iter().map(|(i, t)| {
        let note = match t.reset_in_ms {
            Some(ms) if in_band(t) => {
                format!(", within {RESET_BAND} of the best; resets in {}", show_ms(ms))
            }
            _ => String::new(),
        };
        Placed::new(i, format!("{}{note}", show_headroom(t)))
    }));
    placed
}

/// A fraction clamped to 0..=1, NaN as 0.
fn unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

fn health(t: &TargetView) -> f64 {
    unit(t.health)
}

fn headroom_of(t: &TargetView) -> f64 {
    t.headroom.map_or(1.0, unit)
}

/// A price or latency is known only if it is a finite, non-negative number.
fn known(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite() && *v >= 0.0)
}

fn price(t: &TargetView) -> Option<f64> {
    known(t.price)
}

fn latency(t: &TargetView) -> Option<f64> {
    known(t.latency_ms)
}

/// Ascending, with unknown values after the known ones.
fn known_asc(a: Option<f64>, b: Option<f64>) -> Cmp {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Cmp::Less,
        (None, Some(_)) => Cmp::Greater,
        (None, None) => Cmp::Equal,
    }
}

/// `$1.25/M`: at least two decimals, up to four, trailing zeros dropped.
fn show_price(p: f64) -> String {
    let digits = format!("{p:.4}");
    let trimmed = digits.trim_end_matches('0');
    let decimals = trimmed.split_once('.').map_or(0, |(_, d)| d.len());
    if decimals >= 2 { format!("${trimmed}/M") } else { format!("${p:.2}/M") }
}

fn show_latency(t: &TargetView) -> String {
    latency(t).map_or_else(|| "unknown".to_owned(), |ms| format!("{ms:.0} ms"))
}

fn show_headroom(t: &TargetView) -> String {
    match t.headroom {
        Some(_) => format!("headroom {:.2}", headroom_of(t)),
        None => "headroom unknown (counted as 1.00)".to_owned(),
    }
}

fn show_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..120_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        120_000..7_200_000 => format!("{} min", ms / 60_000),
        _ => format!("{:.1} h", ms as f64 / 3_600_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TargetView {
        TargetView {
            weight: 1,
            price: None,
            context_window: None,
            health: 1.0,
            available: true,
            uses: 0,
            last_good: false,
            headroom: None,
            reset_in_ms: None,
            latency_ms: None,
            tools: false,
            vision: false,
        }
    }

    fn targets(n: usize, mut f: impl FnMut(usize, &mut TargetView)) -> Vec<TargetView> {
        (0..n)
            .map(|i| {
                let mut t = target();
                f(i, &mut t);
                t
            })
            .collect()
    }

    const ONE: StrategyConfig = StrategyConfig { sticky_limit: 1 };

    /// Runs `order` with default needs, a fresh state and sticky limit 1.
    #[track_caller]
    fn run(strategy: Strategy, ts: &[TargetView], seed: u64) -> Ordering {
        let mut rng = fastrand::Rng::with_seed(seed);
        let o = order(
            strategy,
            ts,
            &RequestNeeds::default(),
            &mut ComboState::default(),
            &ONE,
            &mut rng,
        );
        assert_eq!(o.order.len(), o.explain.len());
        o
    }

    #[track_caller]
    fn check(strategy: Strategy, ts: &[TargetView], expected: &[usize]) {
        assert_eq!(run(strategy, ts, 7).order, expected, "{}", strategy.id());
    }

    #[test]
    fn parse_and_id_round_trip_for_all() {
        assert_eq!(Strategy::ALL.len(), 15);
        for &s in Strategy::ALL {
            assert_eq!(Strategy::parse(s.id()), Some(s));
            let text = s.describe();
            assert!(!text.starts_with(' ') && text.ends_with('.') && text.len() > 40, "{text:?}");
        }
        let mut ids: Vec<&str> = Strategy::ALL.iter().map(|s| s.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Strategy::ALL.len());
        assert_eq!(Strategy::parse("usage"), Some(Strategy::LeastUsed));
        assert_eq!(Strategy::parse("context"), Some(Strategy::ContextOptimized));
        assert_eq!(Strategy::parse("reset-window"), Some(Strategy::ResetAware));
        assert_eq!(Strategy::parse("Priority"), None);
        assert_eq!(Strategy::parse("fusion"), None);
        assert_eq!(Strategy::parse(""), None);
    }

    #[test]
    fn describe_joins_the_doc_lines_into_one_paragraph() {
        assert_eq!(
            Strategy::Priority.describe(),
            "Tries the targets in the order the combo lists them: the first one gets every request, \
             and the next one is used only when the ones before it fail or are unavailable."
        );
    }

    #[test]
    fn empty_targets_give_an_empty_ordering() {
        for &s in Strategy::ALL {
            let o = run(s, &[], 1);
            assert_eq!(o, Ordering { order: vec![], explain: vec![] });
        }
    }

    #[test]
    fn configured_order_strategies() {
        let ts = targets(3, |_, _| {});
        for s in [Strategy::Priority, Strategy::FillFirst, Strategy::ContextRelay] {
            check(s, &ts, &[0, 1, 2]);
        }
        let ts = targets(3, |i, t| t.available = i != 0);
        let o = run(Strategy::Priority, &ts, 1);
        assert_eq!(o.order, [1, 2, 0]);
        assert_eq!(
            o.explain,
            [
                "position 2 in the combo",
                "position 3 in the combo",
                "unavailable: tried last (position 1 in the combo)"
            ]
        );
    }

    #[test]
    fn weighted_draws_first_then_orders_by_weight() {
        // Only one target has weight, so it is always drawn.
        let ts = targets(4, |i, t| t.weight = [0, 2, 0, 0][i]);
        let o = run(Strategy::Weighted, &ts, 3);
        assert_eq!(o.order, [1, 0, 2, 3]);
        assert_eq!(o.explain[0], "weight 2 of 2: drawn first");
        assert_eq!(o.explain[1], "weight 0 of 2");

        let ts = targets(4, |i, t| t.weight = [1, 5, 3, 5][i]);
        for seed in 0..50 {
            let o = run(Strategy::Weighted, &ts, seed);
            let rest: Vec<usize> = [1, 3, 2, 0].into_iter().filter(|&i| i != o.order[0]).collect();
            assert_eq!(o.order[1..], rest[..]);
        }
    }

    #[track_caller]
    fn assert_first_shares(weights: &[u32], expected: &[f64]) {
        let ts = targets(weights.len(), |i, t| t.weight = weights[i]);
        let mut rng = fastrand::Rng::with_seed(42);
        let mut state = ComboState::default();
        let draws = 100_000;
        let mut firsts = vec![0u32; weights.len()];
        for _ in 0..draws {
            let o = order(
                Strategy::Weighted,
                &ts,
                &RequestNeeds::default(),
                &mut state,
                &ONE,
                &mut rng,
            );
            firsts[o.order[0]] += 1;
        }
        for (count, want) in firsts.iter().zip(expected) {
            let share = f64::from(*count) / f64::from(draws);
            assert!((share - want).abs() < 0.02, "share {share} vs {want} for {weights:?}");
        }
    }

    #[test]
    fn weighted_first_pick_follows_the_weights() {
        assert_first_shares(&[5, 3, 2], &[0.5, 0.3, 0.2]);
        assert_first_shares(&[0, 0, 0, 0], &[0.25; 4]);
        assert_first_shares(&[0, 1, 0], &[0.0, 1.0, 0.0]);
    }

    #[test]
    fn weighted_keeps_its_pick_for_sticky_limit_calls() {
        let ts = targets(5, |_, t| t.weight = 1);
        let config = StrategyConfig { sticky_limit: 3 };
        let mut rng = fastrand::Rng::with_seed(9);
        let mut state = ComboState::default();
        let firsts: Vec<usize> = (0..300)
            .map(|_| {
                order(
                    Strategy::Weighted,
                    &ts,
                    &RequestNeeds::default(),
                    &mut state,
                    &config,
                    &mut rng,
                )
                .order[0]
            })
            .collect();
        for streak in firsts.chunks(3) {
            assert!(streak.iter().all(|&f| f == streak[0]), "{streak:?}");
        }
        // Over 100 fresh draws of 5 equal weights, the pick does change.
        assert!(firsts.chunks(3).any(|streak| streak[0] != firsts[0]));
        // A different target count forces a new draw.
        let fewer = targets(2, |_, t| t.weight = 1);
        order(Strategy::Weighted, &fewer, &RequestNeeds::default(), &mut state, &config, &mut rng);
        assert_eq!(state.weighted.map(|p| (p.streak, p.len)), Some((1, 2)));
    }

    #[test]
    fn round_robin_rotates_with_sticky_limit() {
        let ts = targets(3, |_, _| {});
        let mut rng = fastrand::Rng::with_seed(1);
        let mut rotate = |sticky_limit: u32, calls: usize| {
            let mut state = ComboState::default();
            let config = StrategyConfig { sticky_limit };
            (0..calls)
                .map(|_| {
                    order(
                        Strategy::RoundRobin,
                        &ts,
                        &RequestNeeds::default(),
                        &mut state,
                        &config,
                        &mut rng,
                    )
                    .order
                })
                .collect::<Vec<_>>()
        };
        let one = rotate(1, 4);
        assert_eq!(one, [vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1], vec![0, 1, 2]]);
        let firsts: Vec<usize> = rotate(3, 10).iter().map(|o| o[0]).collect();
        assert_eq!(firsts, [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]);
        // A sticky limit of 0 behaves as 1.
        assert_eq!(rotate(0, 4), one);
    }

    #[test]
    fn round_robin_survives_a_shrinking_combo() {
        let mut state = ComboState::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let needs = RequestNeeds::default();
        for _ in 0..4 {
            order(Strategy::RoundRobin, &targets(5, |_, _| {}), &needs, &mut state, &ONE, &mut rng);
        }
        let o =
            order(Strategy::RoundRobin, &targets(2, |_, _| {}), &needs, &mut state, &ONE, &mut rng);
        assert_eq!(o.order, [0, 1]);
    }

    #[test]
    fn p2c_puts_the_healthier_of_the_drawn_pair_first() {
        let healths = [0.2, 0.9, 0.5, 0.7, 0.9];
        let ts = targets(5, |i, t| {
            t.health = healths[i];
            t.latency_ms = Some([100.0, 300.0, 100.0, 100.0, 200.0][i]);
        });
        let mut rng = fastrand::Rng::with_seed(5);
        let mut firsts = [0u32; 5];
        for _ in 0..10_000 {
            // `Rng::clone` restarts from the same state, so `draw_two` sees the pair `order` draws.
            let (a, b) = draw_two(ts.len(), &mut rng.clone());
            let o = order(
                Strategy::P2c,
                &ts,
                &RequestNeeds::default(),
                &mut ComboState::default(),
                &ONE,
                &mut rng,
            );
            let first = o.order[0];
            assert!(first == a || first == b);
            let other = if first == a { b } else { a };
            assert!(healths[first] >= healths[other], "{first} first over healthier {other}");
            // Targets 1 and 4 tie on health; 4 is faster.
            assert!(!(first == 1 && other == 4));
            let rest_health: Vec<f64> = o.order[1..].iter().map(|&i| healths[i]).collect();
            let mut sorted = rest_health.clone();
            sorted.sort_by(|x, y| y.total_cmp(x));
            assert_eq!(rest_health, sorted);
            firsts[first] += 1;
        }
        let most = firsts.iter().max().copied();
        assert!(firsts[4] > firsts[1] && Some(firsts[4]) == most, "{firsts:?}");
        assert_eq!(firsts[0], 0, "the least healthy target can never win a draw");
    }

    #[test]
    fn p2c_breaks_ties_by_latency_then_combo_order() {
        let ts = targets(2, |i, t| t.latency_ms = Some([200.0, 100.0][i]));
        for seed in 0..20 {
            let o = run(Strategy::P2c, &ts, seed);
            assert_eq!(o.order, [1, 0]);
            assert_eq!(
                o.explain[0],
                "health 1.00 tied, latency 100 ms beat 200 ms in the two-choice draw"
            );
            assert_eq!(o.explain[1], "health 1.00 (lost the two-choice draw)");
        }
        let ts = targets(2, |_, _| {});
        for seed in 0..20 {
            assert_eq!(run(Strategy::P2c, &ts, seed).order, [0, 1]);
        }
        let ts = targets(2, |i, t| t.health = [0.4, 0.8][i]);
        let o = run(Strategy::P2c, &ts, 0);
        assert_eq!(o.order, [1, 0]);
        assert_eq!(o.explain[0], "health 0.80 beat 0.40 in the two-choice draw");
    }

    #[test]
    fn random_is_a_seeded_shuffle() {
        let ts = targets(6, |_, _| {});
        for seed in 0..20 {
            let mut expected: Vec<usize> = (0..6).collect();
            fastrand::Rng::with_seed(seed).shuffle(&mut expected);
            assert_eq!(run(Strategy::Random, &ts, seed).order, expected);
        }
    }

    #[test]
    fn strict_random_deals_each_target_first_once_per_deck() {
        let ts = targets(4, |_, _| {});
        let mut rng = fastrand::Rng::with_seed(11);
        let mut state = ComboState::default();
        let mut decks_seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let mut firsts: Vec<usize> = (0..4)
                .map(|_| {
                    order(
                        Strategy::StrictRandom,
                        &ts,
                        &RequestNeeds::default(),
                        &mut state,
                        &ONE,
                        &mut rng,
                    )
                    .order[0]
                })
                .collect();
            decks_seen.insert(firsts.clone());
            firsts.sort_unstable();
            assert_eq!(firsts, [0, 1, 2, 3]);
        }
        assert!(decks_seen.len() > 10, "decks are reshuffled");
    }

    #[test]
    fn strict_random_rebuilds_the_deck_when_the_count_changes() {
        let mut rng = fastrand::Rng::with_seed(2);
        let mut state = ComboState::default();
        let needs = RequestNeeds::default();
        let o = order(
            Strategy::StrictRandom,
            &targets(4, |_, _| {}),
            &needs,
            &mut state,
            &ONE,
            &mut rng,
        );
        assert_eq!(o.explain[0], "dealt from the deck, 3 of 4 left before a reshuffle");
        let three = targets(3, |_, _| {});
        let mut firsts: Vec<usize> = (0..3)
            .map(|_| {
                order(Strategy::StrictRandom, &three, &needs, &mut state, &ONE, &mut rng).order[0]
            })
            .collect();
        firsts.sort_unstable();
        assert_eq!(firsts, [0, 1, 2]);
    }

    #[test]
    fn least_used_ascends_by_uses() {
        let ts = targets(4, |i, t| t.uses = [5, 1, 3, 1][i]);
        check(Strategy::LeastUsed, &ts, &[1, 3, 2, 0]);
        let o = run(Strategy::LeastUsed, &ts, 0);
        assert_eq!(o.explain[0], "used 1 time");
        assert_eq!(o.explain[3], "used 5 times");
    }

    #[test]
    fn cost_optimized_ascends_by_price_unknown_last() {
        let ts = targets(5, |i, t| {
            t.price = [Some(2.0), None, Some(0.375), Some(2.0), Some(f64::NAN)][i]
        });
        let o = run(Strategy::CostOptimized, &ts, 0);
        assert_eq!(o.order, [2, 0, 3, 1, 4]);
        assert_eq!(o.explain[0], "price $0.375/M");
        assert_eq!(o.explain[1], "price $2.00/M");
        assert_eq!(o.explain[3], "price unknown: after the priced targets");
    }

    #[test]
    fn lkgp_moves_the_last_good_target_first() {
        let ts = targets(3, |i, t| t.last_good = i == 2);
        check(Strategy::Lkgp, &ts, &[2, 0, 1]);
        check(Strategy::Lkgp, &targets(3, |_, _| {}), &[0, 1, 2]);
    }

    #[test]
    fn context_optimized_descends_by_window_unknown_last() {
        let ts = targets(4, |i, t| {
            t.context_window = [Some(8_000), None, Some(200_000), Some(32_000)][i]
        });
        check(Strategy::ContextOptimized, &ts, &[2, 3, 0, 1]);
    }

    fn auto_example() -> (Vec<TargetView>, RequestNeeds) {
        let ts = vec![
            TargetView {
                health: 0.9,
                price: Some(1.0),
                latency_ms: Some(200.0),
                tools: true,
                ..target()
            },
            TargetView {
                health: 0.5,
                headroom: Some(0.5),
                price: Some(4.0),
                latency_ms: Some(100.0),
                tools: true,
                vision: true,
                context_window: Some(8_000),
                ..target()
            },
            TargetView {
                health: 1.0,
                headroom: Some(1.0),
                context_window: Some(200_000),
                ..target()
            },
        ];
        (ts, RequestNeeds { tools: true, vision: false, tokens: 10_000 })
    }

    #[test]
    fn auto_scores_each_factor() {
        let (ts, needs) = auto_example();
        let (total, factors) = auto_score(&ts[0], &ts, &needs);
        let names: Vec<&str> = factors.iter().map(|f| f.0).collect();
        assert_eq!(names, ["health", "headroom", "cost", "latency", "capability", "context"]);
        let weights: f64 = factors.iter().map(|f| f.1).sum();
        assert!((weights - 1.0).abs() < 1e-12);
        let values: Vec<f64> = factors.iter().map(|f| f.2).collect();
        assert_eq!(values, [0.9, 1.0, 1.0, 0.5, 1.0, 1.0]);
        assert!((total - 0.895).abs() < 1e-9);
        // Over-budget context and too-expensive price.
        let (total, factors) = auto_score(&ts[1], &ts, &needs);
        assert_eq!(
            factors.iter().map(|f| f.2).collect::<Vec<_>>(),
            [0.5, 0.5, 0.25, 1.0, 1.0, 0.0]
        );
        assert!((total - 0.525).abs() < 1e-9);
        // No tools, unknown price and latency.
        let (total, factors) = auto_score(&ts[2], &ts, &needs);
        assert_eq!(factors.iter().map(|f| f.2).collect::<Vec<_>>(), [1.0, 1.0, 0.5, 0.5, 0.0, 1.0]);
        assert!((total - 0.725).abs() < 1e-9);
    }

    #[test]
    fn auto_orders_by_score_and_explains_it() {
        let (ts, needs) = auto_example();
        let mut rng = fastrand::Rng::with_seed(0);
        let o = order(Strategy::Auto, &ts, &needs, &mut ComboState::default(), &ONE, &mut rng);
        assert_eq!(o.order, [0, 2, 1]);
        assert_eq!(
            o.explain[0],
            "score 0.895 = health 0.30×0.90 + headroom 0.15×1.00 + cost 0.20×1.00 + latency 0.15×0.50 \
             + capability 0.10×1.00 + context 0.10×1.00"
        );
    }

    #[test]
    fn auto_handles_free_and_instant_targets() {
        let ts = targets(2, |i, t| {
            t.price = Some([0.0, 2.0][i]);
            t.latency_ms = Some([0.0, 50.0][i]);
        });
        let needs = RequestNeeds::default();
        let values =
            |i: usize| auto_score(&ts[i], &ts, &needs).1.iter().map(|f| f.2).collect::<Vec<_>>();
        assert_eq!(values(0)[2..4], [1.0, 1.0]);
        assert_eq!(values(1)[2..4], [0.0, 0.0]);
    }

    #[test]
    fn headroom_descends_unknown_as_full() {
        let ts = targets(4, |i, t| t.headroom = [Some(0.5), None, Some(0.9), Some(1.0)][i]);
        let o = run(Strategy::Headroom, &ts, 0);
        assert_eq!(o.order, [1, 3, 2, 0]);
        assert_eq!(o.explain[0], "headroom unknown (counted as 1.00)");
        assert_eq!(o.explain[3], "headroom 0.50");
    }

    #[test]
    fn reset_aware_prefers_the_soonest_reset_near_the_best_headroom() {
        let ts = targets(5, |i, t| {
            t.headroom = [Some(0.98), None, Some(0.95), Some(0.90), Some(0.2)][i];
            t.reset_in_ms = [Some(60_000), None, Some(10_000), Some(1_000), Some(5)][i];
        });
        let o = run(Strategy::ResetAware, &ts, 0);
        assert_eq!(o.order, [2, 1, 0, 3, 4]);
        assert_eq!(
            o.explain[0],
            "headroom 0.95, within 0.05 of the best; resets soonest, in 10.0 s"
        );
        assert_eq!(o.explain[2], "headroom 0.98, within 0.05 of the best; resets in 60.0 s");
        assert_eq!(o.explain[3], "headroom 0.90");
        // Nobody in the band has a known reset: the best headroom goes first.
        let ts = targets(3, |i, t| {
            t.headroom = Some([0.5, 0.97, 0.99][i]);
            t.reset_in_ms = [Some(1), None, None][i];
        });
        check(Strategy::ResetAware, &ts, &[2, 1, 0]);
    }

    #[test]
    fn unavailable_targets_go_last_in_strategy_order() {
        let ts = targets(4, |i, t| {
            t.price = Some([1.0, 2.0, 3.0, 4.0][i]);
            t.available = i % 2 == 1;
        });
        let o = run(Strategy::CostOptimized, &ts, 0);
        assert_eq!(o.order, [1, 3, 0, 2]);
        assert_eq!(o.explain[2], "unavailable: tried last (price $1.00/M)");
    }

    #[test]
    fn every_strategy_returns_a_permutation_with_available_targets_first() {
        let mut dice = fastrand::Rng::with_seed(2024);
        let maybe =
            |x: f64, dice: &mut fastrand::Rng| if dice.u8(0..4) == 0 { None } else { Some(x) };
        let odd = |dice: &mut fastrand::Rng| [f64::NAN, f64::INFINITY, -1.0, 2.0][dice.usize(0..4)];
        for &s in Strategy::ALL {
            let mut state = ComboState::default();
            for seed in 0..300 {
                let n = dice.usize(0..9);
                let ts = targets(n, |_, t| {
                    t.weight = dice.u32(0..4);
                    t.price = maybe(dice.f64() * 20.0, &mut dice);
                    t.context_window =
                        if dice.bool() { Some(dice.u64(1_000..300_000)) } else { None };
                    t.health = dice.f64();
                    t.available = dice.u8(0..3) != 0;
                    t.uses = dice.u64(0..5);
                    t.last_good = dice.u8(0..4) == 0;
                    t.headroom = maybe(dice.f64(), &mut dice);
                    t.reset_in_ms = if dice.bool() { Some(dice.u64(0..10_000_000)) } else { None };
                    t.latency_ms = maybe(dice.f64() * 2_000.0, &mut dice);
                    t.tools = dice.bool();
                    t.vision = dice.bool();
                    // Now and then, inputs that a buggy measurement could produce.
                    if dice.u8(0..10) == 0 {
                        t.health = odd(&mut dice);
                        t.price = Some(odd(&mut dice));
                        t.latency_ms = Some(odd(&mut dice));
                        t.headroom = Some(odd(&mut dice));
                    }
                });
                let needs = RequestNeeds {
                    tools: dice.bool(),
                    vision: dice.bool(),
                    tokens: dice.u64(0..100_000),
                };
                let config = StrategyConfig { sticky_limit: dice.u32(0..4) };
                let mut rng = fastrand::Rng::with_seed(seed);
                let o = order(s, &ts, &needs, &mut state, &config, &mut rng);
                let mut sorted = o.order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "{} is not a permutation", s.id());
                assert_eq!(o.explain.len(), n);
                let available: Vec<bool> = o.order.iter().map(|&i| ts[i].available).collect();
                assert!(available.windows(2).all(|w| w[0] || !w[1]), "{}: {available:?}", s.id());
                for (line, &i) in o.explain.iter().zip(&o.order) {
                    assert_eq!(line.starts_with("unavailable: "), !ts[i].available, "{line}");
                }
                if s == Strategy::Auto {
                    for t in &ts {
                        let (total, _) = auto_score(t, &ts, &needs);
                        assert!((0.0..=1.0 + 1e-12).contains(&total), "{total}");
                    }
                }
            }
        }
    }

    #[test]
    fn show_helpers() {
        assert_eq!(show_price(1.25), "$1.25/M");
        assert_eq!(show_price(3.0), "$3.00/M");
        assert_eq!(show_price(0.075), "$0.075/M");
        assert_eq!(show_price(1.0 / 3.0), "$0.3333/M");
        assert_eq!(show_ms(999), "999 ms");
        assert_eq!(show_ms(90_000), "90.0 s");
        assert_eq!(show_ms(600_000), "10 min");
        assert_eq!(show_ms(18_000_000), "5.0 h");
    }
}

#[cfg(test)]
mod docs {
    use super::Strategy;

    /// `docs/routing.md` carries every strategy's description word for word.
    #[test]
    fn the_routing_doc_describes_every_strategy() {
        let doc = include_str!("../../../docs/routing.md");
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let doc = flat(doc);
        for s in Strategy::ALL {
            assert!(doc.contains(&format!("`{}`", s.id())), "{} is not named", s.id());
            assert!(doc.contains(&flat(s.describe())), "{}'s description differs", s.id());
        }
    }

    /// Prints the strategy section of `docs/routing.md` (`cargo test -p omniroute-routing
    /// print_strategy_docs -- --ignored --nocapture`).
    #[test]
    #[ignore = "a generator, not a check"]
    #[allow(clippy::print_stdout)]
    fn print_strategy_docs() {
        for s in Strategy::ALL {
            println!("- **`{}`**: {}\n", s.id(), s.describe());
        }
    }
}
