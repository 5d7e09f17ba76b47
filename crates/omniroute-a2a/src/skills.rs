//! The agent's skills: what the card advertises and how each one runs, as calls of
//! control-plane tools whose answers become a reply text and artifacts.

use omniroute_control::{ControlError, ControlPlane, TOOLS};
use serde_json::{Map, Value, json};

use crate::ids::uuid_v4;
use crate::types::{AgentSkill, Artifact, Part};

/// A skill, chosen per message by `metadata.skill` (default [`Skill::SmartRouting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skill {
    SmartRouting,
    QuotaManagement,
    ProviderDiscovery,
    CostAnalysis,
    HealthReport,
    ListCapabilities,
}

impl Skill {
    /// Every skill, in the card's order.
    pub const ALL: &'static [Skill] = &[
        Skill::SmartRouting,
        Skill::QuotaManagement,
        Skill::ProviderDiscovery,
        Skill::CostAnalysis,
        Skill::HealthReport,
        Skill::ListCapabilities,
    ];

    /// Its id on the card and in `metadata.skill`.
    pub fn id(self) -> &'static str {
        match self {
            Skill::SmartRouting => "smart-routing",
            Skill::QuotaManagement => "quota-management",
            Skill::ProviderDiscovery => "provider-discovery",
            Skill::CostAnalysis => "cost-analysis",
            Skill::HealthReport => "health-report",
            Skill::ListCapabilities => "list-capabilities",
        }
    }

    /// The skill with this id.
    pub fn parse(id: &str) -> Option<Skill> {
        Skill::ALL.iter().copied().find(|s| s.id() == id)
    }

    /// The control-plane tools it calls.
    pub fn tools(self) -> &'static [&'static str] {
        match self {
            Skill::SmartRouting => &["omniroute_route_request"],
            Skill::QuotaManagement => &["omniroute_check_quota"],
            Skill::ProviderDiscovery => {
                &["omniroute_list_models_catalog", "omniroute_get_provider_metrics"]
            }
            Skill::CostAnalysis => &["omniroute_cost_report"],
            Skill::HealthReport => &["omniroute_get_health"],
            Skill::ListCapabilities => &[],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Skill::SmartRouting => "Smart routing",
            Skill::QuotaManagement => "Quota management",
            Skill::ProviderDiscovery => "Provider discovery",
            Skill::CostAnalysis => "Cost analysis",
            Skill::HealthReport => "Health report",
            Skill::ListCapabilities => "List capabilities",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Skill::SmartRouting => {
                "Answers the message's text as a chat completion routed through the gateway \
                 (fallback chains, quotas, budgets) to `metadata.model` (a combo, alias or \
                 provider/model; default: the configured model). The `answer` artifact holds the \
                 reply and a data part with the account that served it, the model, the cost in \
                 USD and the token usage."
            }
            Skill::QuotaManagement => {
                "Reports the quota and cooldown state of every provider connection and each \
                 client key's budget use today and this month; `metadata.provider` narrows it to \
                 one provider."
            }
            Skill::ProviderDiscovery => {
                "Lists every model a client can call (provider models, combos, aliases) and each \
                 provider's requests, failures, latency percentiles and circuit breaker state; \
                 `metadata.provider` narrows it to one provider."
            }
            Skill::CostAnalysis => {
                "Cost and tokens grouped by key, model, provider, connection or day \
                 (`metadata.group_by`, default model) over a period (`metadata.since`, \
                 `metadata.until`: Unix ms or YYYY-MM-DD; default the last 30 days)."
            }
            Skill::HealthReport => {
                "The gateway's health: each provider's requests, circuit breaker and latency, \
                 connection cooldowns and model lockouts."
            }
            Skill::ListCapabilities => {
                "Lists this agent's skills and the control-plane tools behind them, without \
                 calling the gateway."
            }
        }
    }

    fn tags(self) -> &'static [&'static str] {
        match self {
            Skill::SmartRouting => &["llm", "chat", "routing", "fallback"],
            Skill::QuotaManagement => &["quota", "budget", "rate-limits"],
            Skill::ProviderDiscovery => &["models", "providers", "latency", "discovery"],
            Skill::CostAnalysis => &["cost", "usage", "tokens", "reporting"],
            Skill::HealthReport => &["health", "monitoring", "circuit-breaker"],
            Skill::ListCapabilities => &["capabilities", "introspection"],
        }
    }

    fn examples(self) -> &'static [&'static str] {
        match self {
            Skill::SmartRouting => &[
                "Summarize the following paragraph in one sentence: ...",
                "Write a haiku about failover.",
            ],
            Skill::QuotaManagement => {
                &["Which connections are cooling down?", "How much of my budget is left today?"]
            }
            Skill::ProviderDiscovery => {
                &["Which models can I use?", "Which provider is fastest right now?"]
            }
            Skill::CostAnalysis => {
                &["What did we spend per model this month?", "Cost per day since 2025-01-01"]
            }
            Skill::HealthReport => &["Is the gateway healthy?", "Are any circuit breakers open?"],
            Skill::ListCapabilities => &["What can you do?"],
        }
    }

    /// Its entry on the agent card.
    pub fn card(self) -> AgentSkill {
        let strings = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        AgentSkill {
            id: self.id().to_owned(),
            name: self.name().to_owned(),
            description: self.description().to_owned(),
            tags: strings(self.tags()),
            examples: strings(self.examples()),
            input_modes: match self {
                Skill::SmartRouting => Some(strings(&["text/plain"])),
                _ => None,
            },
            output_modes: None,
        }
    }
}

/// What a skill works from.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    /// The text parts of the user message.
    pub(crate) text: String,
    /// `params.metadata` overlaid with `message.metadata`.
    pub(crate) metadata: Map<String, Value>,
    pub(crate) default_model: Option<String>,
}

/// What a skill produced: the reply to the user and the artifacts.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) reply: String,
    pub(crate) artifacts: Vec<Artifact>,
}

/// Runs `skill`; `Err` is the text of the failure, for the task's status message.
pub(crate) async fn run<C: ControlPlane>(
    skill: Skill,
    control: &C,
    input: &Input,
) -> Result<Outcome, String> {
    match skill {
        Skill::SmartRouting => smart_routing(control, input).await,
        Skill::QuotaManagement => {
            let tool = "omniroute_check_quota";
            let out = call(control, tool, pick(&input.metadata, &["provider"])).await?;
            let connections = count(&out, "connections");
            let keys = count(&out, "keys");
            let reply =
                format!("Quota: {connections} provider connections and {keys} client keys.");
            Ok(one_artifact("quota", reply, vec![data_part(tool, out)]))
        }
        Skill::ProviderDiscovery => {
            let args = pick(&input.metadata, &["provider"]);
            let catalog_tool = "omniroute_list_models_catalog";
            let metrics_tool = "omniroute_get_provider_metrics";
            let catalog = call(control, catalog_tool, args.clone()).await?;
            let metrics = call(control, metrics_tool, args).await?;
            let reply = format!(
                "{} models available; metrics for {} providers.",
                count(&catalog, "models"),
                count(&metrics, "providers")
            );
            Ok(one_artifact(
                "providers",
                reply,
                vec![data_part(catalog_tool, catalog), data_part(metrics_tool, metrics)],
            ))
        }
        Skill::CostAnalysis => {
            let tool = "omniroute_cost_report";
            let out =
                call(control, tool, pick(&input.metadata, &["group_by", "since", "until"])).await?;
            let cost = out["total"]["cost_usd"].as_f64().unwrap_or(0.0);
            let requests = out["total"]["requests"].as_u64().unwrap_or(0);
            let by = out["group_by"].as_str().unwrap_or("model");
            let reply = format!(
                "Total cost ${cost:.4} over {requests} requests; {} groups by {by}.",
                count(&out, "data")
            );
            Ok(one_artifact("cost-report", reply, vec![data_part(tool, out)]))
        }
        Skill::HealthReport => {
            let tool = "omniroute_get_health";
            let out = call(control, tool, json!({})).await?;
            let status = out["status"].as_str().unwrap_or("unknown");
            let reply =
                format!("Gateway status: {status}; {} providers.", count(&out, "providers"));
            Ok(one_artifact("health", reply, vec![data_part(tool, out)]))
        }
        Skill::ListCapabilities => {
            let skills: Vec<Value> = Skill::ALL
                .iter()
                .map(|s| {
                    json!({"id": s.id(), "name": s.name(), "description": s.description(), "tools": s.tools()})
                })
                .collect();
            let tools: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            let reply = format!(
                "Skills: {}. The gateway's control plane offers {} tools.",
                Skill::ALL.iter().map(|s| s.id()).collect::<Vec<_>>().join(", "),
                tools.len()
            );
            let data = Part::data(json!({"skills": skills, "tools": tools}));
            Ok(one_artifact("capabilities", reply, vec![data]))
        }
    }
}

async fn smart_routing<C: ControlPlane>(control: &C, input: &Input) -> Result<Outcome, String> {
    let model = input
        .metadata
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .or_else(|| input.default_model.clone())
        .ok_or_else(|| {
            "No model to route to: set `metadata.model` on the message (a combo, alias or \
             provider/model), or configure a default model for the A2A agent."
                .to_owned()
        })?;
    let mut args = json!({"model": model, "messages": [{"role": "user", "content": input.text}]});
    if let Value::Object(extra) = pick(&input.metadata, &["max_tokens", "temperature"]) {
        for (k, v) in extra {
            args[k] = v;
        }
    }
    let tool = "omniroute_route_request";
    let out = call(control, tool, args).await?;
    let answer = out["content"].as_str().unwrap_or_default().to_owned();
    let details = json!({
        "served_by": out["served_by"],
        "model": out.get("model").cloned().unwrap_or(Value::String(model)),
        "cost_usd": out["cost_usd"],
        "usage": out["usage"],
    });
    Ok(one_artifact("answer", answer.clone(), vec![Part::text(answer), data_part(tool, details)]))
}

async fn call<C: ControlPlane>(control: &C, tool: &str, args: Value) -> Result<Value, String> {
    control.call(tool, args).await.map_err(|e| failure(tool, &e))
}

/// The status text of a failed tool call.
fn failure(tool: &str, e: &ControlError) -> String {
    format!("{tool} failed ({}): {}", e.code.id(), e.message)
}

/// The entries of `metadata` named in `keys` (numbers given for `since`/`until` become the
/// strings the tools expect).
fn pick(metadata: &Map<String, Value>, keys: &[&str]) -> Value {
    let mut out = Map::new();
    for k in keys {
        match metadata.get(*k) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if matches!(*k, "since" | "until") => {
                out.insert((*k).to_owned(), Value::String(n.to_string()));
            }
            Some(v) => {
                out.insert((*k).to_owned(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn count(v: &Value, field: &str) -> usize {
    v[field].as_array().map_or(0, Vec::len)
}

/// A data part holding a tool's answer, its part metadata naming the tool.
fn data_part(tool: &str, out: Value) -> Part {
    let mut part = Part::data(out);
    if let Part::Data { metadata, .. } = &mut part {
        let mut meta = Map::new();
        meta.insert("tool".to_owned(), Value::String(tool.to_owned()));
        *metadata = Some(meta);
    }
    part
}

/// An outcome whose one artifact is `name`: the reply as text, then `parts`.
fn one_artifact(name: &str, reply: String, parts: Vec<Part>) -> Outcome {
    let mut all = Vec::with_capacity(parts.len() + 1);
    if !parts.iter().any(|p| matches!(p, Part::Text { .. })) {
        all.push(Part::text(reply.clone()));
    }
    all.extend(parts);
    Outcome {
        reply,
        artifacts: vec![Artifact {
            artifact_id: uuid_v4(),
            name: Some(name.to_owned()),
            description: None,
            parts: all,
            metadata: None,
            extensions: None,
        }],
    }
}
