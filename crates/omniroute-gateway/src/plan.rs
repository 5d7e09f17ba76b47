//! Planning a request: the model name becomes an ordered list of (target, account) candidates.
//!
//! ```text
//! name ─ combo? ─ expand (nesting, wildcards) ─ resolve each target ─ strategy order
//!      └ alias / provider/model ───────────────┘        │
//!   for each target: skip what cannot serve the request (context window), then its
//!   accounts in the account strategy's order, each checked against the health state
//!   (breaker, cooldown, model lockout, concurrency, quota, pacing)
//! ```
//!
//! What is skipped is kept with its reason, for `route explain` and for waiting out a
//! cooldown when nothing is free.

use std::collections::HashMap;
use std::sync::Arc;

use omniroute_providers::{Auth, Provider};
use omniroute_routing::combo::{self, Combo, ComboConfig, Target};
use omniroute_routing::health::{Health, Profile};
use omniroute_routing::strategy::auto_score;
use omniroute_routing::{ComboState, RequestNeeds, Strategy, StrategyConfig, TargetView, order};

use crate::app::App;
use crate::routes::{Candidate, PlanError, Routes};

/// A target or account that was left out, and why.
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    pub(crate) target: String,
    pub(crate) connection: Option<String>,
    pub(crate) reason: String,
    /// When it may be free again (`None`: when a request ends, or never for this request).
    pub(crate) until: Option<u64>,
    /// Waiting can help (cooldowns, pacing, busy), unlike a context window that is too small.
    pub(crate) transient: bool,
}

/// The outcome of planning.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) skipped: Vec<Skipped>,
    /// The combo, when the name was one.
    pub(crate) combo: Option<(String, Strategy, ComboConfig)>,
    /// Each target in strategy order with the strategy's reason.
    pub(crate) order: Vec<(String, String)>,
}

/// The profile of a provider's failures.
pub(crate) fn profile(p: &Provider) -> Profile {
    if p.local || p.auth == Auth::None { Profile::LOCAL } else { Profile::API_KEY }
}

/// Per-combo strategy memory, per-provider account rotation, last known good targets, and
/// the in-flight count per combo target.
#[derive(Debug, Default)]
pub(crate) struct RouterState {
    combos: HashMap<String, ComboState>,
    accounts: HashMap<String, ComboState>,
    pub(crate) last_good: HashMap<String, String>,
    pub(crate) model_in_flight: HashMap<String, u32>,
}

fn resolve_all(
    routes: &Routes,
    targets: &[Target],
    errors: &mut Vec<(String, PlanError)>,
) -> Vec<(Target, Arc<Provider>, String)> {
    let usable = |p: &Provider| routes.usable(p);
    let mut out = Vec::new();
    for t in targets {
        match routes.registry.resolve(&t.model, &usable) {
            Ok(r) => {
                if routes.accounts(&r.provider).is_empty() {
                    errors.push((t.model.clone(), PlanError::NoConnection(r.provider.id.clone())));
                    continue;
                }
                out.push((t.clone(), r.provider, r.model));
            }
            Err(e) => errors.push((t.model.clone(), e.into())),
        }
    }
    out
}

/// Plans `model` at `now`.
pub(crate) fn plan(
    app: &App,
    routes: &Routes,
    model: &str,
    needs: &RequestNeeds,
    now: u64,
    dry_run: bool,
) -> Result<Plan, PlanError> {
    let (targets, combo): (Vec<Target>, Option<&Combo>) = match routes.combos.get(model) {
        Some(c) => {
            let models = |p: &str| routes.registry.get(p).map(|p| (p.id.clone(), p.models.clone()));
            let expanded = combo::expand(c, &routes.combos, &models)
                .map_err(|e| PlanError::Combo(e.to_string()))?;
            (expanded, Some(c))
        }
        None => {
            let name = routes.aliases.get(model).cloned().unwrap_or_else(|| model.to_owned());
            (vec![Target { model: name, weight: 1 }], None)
        }
    };
    let mut errors = Vec::new();
    let resolved = resolve_all(routes, &targets, &mut errors);
    if resolved.is_empty() {
        return Err(errors
            .into_iter()
            .next()
            .map_or_else(|| PlanError::Combo(format!("`{model}` has no targets")), |(_, e)| e));
    }

    let mut health = app.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut state = app.router.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let last_good = combo.and_then(|c| state.last_good.get(&c.name).cloned());

    let (strategy, config) = match combo {
        Some(c) => (c.strategy, c.config.clone()),
        None => (Strategy::Priority, ComboConfig::default()),
    };
    let mut rng = fastrand::Rng::with_seed(app.seed(now));
    // A single model needs no strategy (and leaves no strategy state behind).
    let Some(combo_def) = combo else {
        let ordering = omniroute_routing::Ordering {
            order: (0..resolved.len()).collect(),
            explain: vec!["the requested model".to_owned(); resolved.len()],
        };
        return Ok(finish(
            routes,
            &mut health,
            &mut state,
            &resolved,
            &ordering,
            &[],
            strategy,
            &config,
            None,
            errors,
            needs,
            now,
            dry_run,
            &mut rng,
        ));
    };
    // One view per target, from its best account.
    let views: Vec<TargetView> = resolved
        .iter()
        .map(|(t, p, m)| {
            let accounts = routes.accounts(p);
            let label = format!("{}/{m}", p.id);
            let available = accounts.iter().any(|a| health.check(&p.id, &a.name, m, now).is_ok());
            let best_score =
                accounts.iter().map(|a| health.score(&p.id, Some(&a.name))).fold(0.0, f64::max);
            let headroom = accounts.iter().map(|a| health.headroom(&p.id, &a.name, now)).fold(
                (None, None),
                |acc: (Option<f64>, Option<u64>), h| match (acc.0, h.0) {
                    (Some(a), Some(b)) if a >= b => acc,
                    (_, Some(_)) => h,
                    _ => acc,
                },
            );
            let price = routes.prices.get(&label).map(|p| (p.input + p.output) as f64 / 2e6);
            TargetView {
                weight: t.weight,
                price,
                context_window: p.context_window,
                health: best_score,
                available,
                uses: accounts.iter().map(|a| health.uses(&p.id, &a.name)).sum(),
                last_good: last_good.as_deref() == Some(label.as_str()),
                headroom: headroom.0,
                reset_in_ms: headroom.1,
                latency_ms: accounts.iter().find_map(|a| health.median_latency(&p.id, &a.name)),
                tools: true,
                vision: true,
            }
        })
        .collect();

    let ordering = {
        // A dry run (route explanations) works on a copy, so explaining changes nothing.
        let mut copy;
        let cs = if dry_run {
            copy = state.combos.get(model).cloned().unwrap_or_default();
            &mut copy
        } else {
            state.combos.entry(model.to_owned()).or_default()
        };
        order(
            strategy,
            &views,
            needs,
            cs,
            &StrategyConfig { sticky_limit: config.sticky_limit.max(1) },
            &mut rng,
        )
    };
    Ok(finish(
        routes,
        &mut health,
        &mut state,
        &resolved,
        &ordering,
        &views,
        strategy,
        &config,
        Some(combo_def),
        errors,
        needs,
        now,
        dry_run,
        &mut rng,
    ))
}

/// Turns the strategy's order into candidates and skips.
#[expect(clippy::too_many_arguments, reason = "one step of `plan`, split out to share it")]
fn finish(
    routes: &Routes,
    health: &mut Health,
    state: &mut RouterState,
    resolved: &[(Target, Arc<Provider>, String)],
    ordering: &omniroute_routing::Ordering,
    views: &[TargetView],
    strategy: Strategy,
    config: &ComboConfig,
    combo: Option<&Combo>,
    errors: Vec<(String, PlanError)>,
    needs: &RequestNeeds,
    now: u64,
    dry_run: bool,
    rng: &mut fastrand::Rng,
) -> Plan {
    let mut plan = Plan {
        candidates: Vec::new(),
        skipped: Vec::new(),
        combo: combo.map(|c| (c.name.clone(), c.strategy, c.config.clone())),
        order: Vec::new(),
    };
    for (t, e) in errors {
        plan.skipped.push(Skipped {
            target: t,
            connection: None,
            reason: e.to_string(),
            until: None,
            transient: false,
        });
    }
    for (rank, &i) in ordering.order.iter().enumerate() {
        let (_, p, m) = &resolved[i];
        let label = format!("{}/{m}", p.id);
        let mut why = ordering.explain.get(rank).cloned().unwrap_or_default();
        if strategy == Strategy::Auto {
            let (score, _) = auto_score(&views[i], views, needs);
            why = format!("{why} (auto score {score:.3})");
        }
        plan.order.push((label.clone(), why));
        let skip = |reason: String, until: Option<u64>, transient: bool| Skipped {
            target: label.clone(),
            connection: None,
            reason,
            until,
            transient,
        };
        if let Some(window) = p.context_window
            && needs.tokens > window
        {
            let reason = format!(
                "the prompt (~{} tokens) exceeds its context window ({window})",
                needs.tokens
            );
            plan.skipped.push(skip(reason, None, false));
            continue;
        }
        if let Some(limit) = config.concurrency_per_model
            && state.model_in_flight.get(&label).copied().unwrap_or(0) >= limit
        {
            plan.skipped.push(skip(format!("{limit} requests already in flight"), None, true));
            continue;
        }
        for account in order_accounts(routes, health, state, p, rng, dry_run) {
            match health.check(&p.id, &account.name, m, now) {
                Ok(()) => plan.candidates.push(Candidate {
                    provider: p.clone(),
                    model: m.clone(),
                    connection: account,
                    target: label.clone(),
                }),
                Err(s) => plan.skipped.push(Skipped {
                    target: label.clone(),
                    connection: Some(account.name.clone()),
                    reason: s.describe(now),
                    until: s.until(),
                    transient: true,
                }),
            }
        }
    }
    plan
}

/// A provider's accounts in the account strategy's order.
fn order_accounts(
    routes: &Routes,
    health: &Health,
    state: &mut RouterState,
    p: &Provider,
    rng: &mut fastrand::Rng,
    dry_run: bool,
) -> Vec<omniroute_providers::Connection> {
    let accounts = routes.accounts(p);
    if accounts.len() < 2 || routes.settings.account_strategy == Strategy::FillFirst {
        return accounts;
    }
    let views: Vec<TargetView> = accounts
        .iter()
        .map(|a| TargetView {
            weight: 1,
            price: None,
            context_window: None,
            health: health.score(&p.id, Some(&a.name)),
            available: true,
            uses: health.uses(&p.id, &a.name),
            last_good: false,
            headroom: None,
            reset_in_ms: None,
            latency_ms: health.median_latency(&p.id, &a.name),
            tools: true,
            vision: true,
        })
        .collect();
    let mut copy;
    let cs = if dry_run {
        copy = state.accounts.get(&p.id).cloned().unwrap_or_default();
        &mut copy
    } else {
        state.accounts.entry(p.id.clone()).or_default()
    };
    let o = order(
        routes.settings.account_strategy,
        &views,
        &RequestNeeds::default(),
        cs,
        &StrategyConfig { sticky_limit: 1 },
        rng,
    );
    o.order.into_iter().filter_map(|i| accounts.get(i).cloned()).collect()
}

/// A route explanation as JSON (`GET /api/route/explain`, the `explain_route` and
/// `simulate_route` tools): a dry run that changes no strategy state.
pub(crate) fn explain_json(
    app: &App,
    model: &str,
    tokens: u64,
) -> Result<serde_json::Value, PlanError> {
    use serde_json::json;
    let needs = RequestNeeds { tokens, ..RequestNeeds::default() };
    let routes = app.routes();
    let now = u64::try_from(crate::apply::now_ms()).unwrap_or(0);
    let plan = plan(app, &routes, model, &needs, now, true)?;
    Ok(json!({
        "model": model,
        "combo": plan.combo.as_ref().map(|(name, strategy, _)| json!({
            "name": name,
            "strategy": strategy.id(),
            "description": strategy.describe(),
        })),
        "order": plan.order.iter().map(|(t, why)| json!({"target": t, "why": why})).collect::<Vec<_>>(),
        "candidates": plan.candidates.iter().map(|c| json!({
            "target": c.target,
            "connection": c.connection.name,
        })).collect::<Vec<_>>(),
        "skipped": plan.skipped.iter().map(|s| json!({
            "target": s.target,
            "connection": s.connection,
            "reason": s.reason,
            "until": s.until,
        })).collect::<Vec<_>>(),
    }))
}
