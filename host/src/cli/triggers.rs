//! `cardhost triggers`, `cardhost subscriptions …` and `cardhost events`.
//!
//! These work on the store, as the connection commands do; the polling
//! itself runs in `cardhost serve`, which picks up a subscription made here
//! at its next tick.

use super::connections::{service, show_json};
use super::print_table;
use super::term::{self, outln};
use crate::config::Config;
use crate::store::{NEVER_MS, Target, rfc3339};
use crate::subscriptions::{
    CreateSubscription, FeedEvent, SubscriptionView, Subscriptions, trigger_entry,
};
use clap::Subcommand;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Subscription commands.
#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Subscribe to a trigger of a connection: the server polls it on the
    /// interval and keeps its events in a feed (`cardhost events`).
    Create {
        /// Connection name or id.
        connection: String,
        /// Trigger id (`cardhost triggers` lists them).
        trigger: String,
        /// Seconds between polls; the trigger's default when not given.
        #[arg(long)]
        interval: Option<u32>,
        /// Post each event, signed, to this HTTPS URL instead of keeping a
        /// feed; the signing secret is printed once.
        #[arg(long, value_name = "URL")]
        webhook: Option<String>,
    },
    /// List subscriptions.
    List {
        /// Only this connection's (name or id).
        #[arg(long)]
        connection: Option<String>,
    },
    /// Show a subscription: state, cursor, last poll and its error.
    Show {
        /// Subscription id.
        id: String,
    },
    /// Stop polling a subscription until it is resumed.
    Pause {
        /// Subscription id.
        id: String,
    },
    /// Resume a subscription; it polls at once.
    Resume {
        /// Subscription id.
        id: String,
    },
    /// Deliver a webhook target's events again, in order, from the oldest
    /// dead letter (or from `--from`).
    Redeliver {
        /// Subscription id.
        id: String,
        /// Deliver again from this event number (`seq`) on.
        #[arg(long, value_name = "SEQ")]
        from: Option<i64>,
    },
    /// The events a webhook target never took, with the last error.
    DeadLetters {
        /// Subscription id.
        id: String,
    },
    /// Delete a subscription and its events.
    Delete {
        /// Subscription id.
        id: String,
    },
}

/// `cardhost events` arguments.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Subscription id.
    subscription: String,
    /// Only events after this cursor (a `next` printed before).
    #[arg(long)]
    after: Option<String>,
    /// At most this many per page.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Keep printing events as they arrive, until interrupted.
    #[arg(long)]
    follow: bool,
}

/// `cardhost triggers [CONNECTOR]`.
pub async fn list_triggers(
    connector: Option<String>,
    config: Config,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let host = crate::start_runtime(config.runtime()).await?;
    let registry = host.registry();
    if let Some(c) = &connector
        && registry.get(c).is_none()
    {
        anyhow::bail!("no connector `{c}` is loaded (`cardhost connectors` lists them)");
    }
    let mut all = Vec::new();
    for loaded in registry.connectors() {
        if connector
            .as_deref()
            .is_some_and(|c| c != loaded.manifest.id())
        {
            continue;
        }
        for t in &loaded.manifest.triggers {
            let mut entry = trigger_entry(t);
            entry["connector"] = json!(loaded.manifest.id());
            all.push(entry);
        }
    }
    if json_output {
        show_json(&json!({"triggers": all}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            vec![
                text("connector"),
                text("id"),
                text("kind"),
                t["default_interval_seconds"]
                    .as_u64()
                    .map(|s| format!("{s}s"))
                    .unwrap_or_else(|| "-".into()),
                text("title"),
            ]
        })
        .collect();
    print_table(&["CONNECTOR", "TRIGGER", "KIND", "EVERY", "TITLE"], &rows)?;
    Ok(ExitCode::SUCCESS)
}

async fn subscriptions(config: Config, data_dir: &Path) -> anyhow::Result<Subscriptions> {
    let public_url = config.server.public_url.clone();
    let subs = Subscriptions::new(Arc::new(service(config, data_dir).await?));
    Ok(match public_url {
        Some(url) => subs.with_public_url(url),
        None => subs,
    })
}

fn print_subscription(view: &SubscriptionView) -> anyhow::Result<()> {
    let (r, connector) = (&view.record, &view.connector);
    outln!("{}", r.id)?;
    outln!(
        "  trigger      {connector}/{} on {}",
        r.trigger,
        r.connection_id
    )?;
    match &r.state_message {
        Some(m) => outln!("  state        {} — {m}", r.state.as_str())?,
        None => outln!("  state        {}", r.state.as_str())?,
    }
    if let Some(hook) = &view.hook {
        outln!("  hook         {}", hook.url)?;
        outln!("  verified by  {} `{}`", hook.verification, hook.header)?;
        if let Some(token) = &hook.token {
            outln!("  hook token   {token}")?;
            outln!("  (shown once: the vendor must send it as the header above)")?;
        }
        if let Some(reg) = &hook.registration {
            let status = serde_json::to_value(reg.status)?;
            match &reg.message {
                Some(m) => outln!("  registration {} — {m}", status.as_str().unwrap_or(""))?,
                None => outln!("  registration {}", status.as_str().unwrap_or(""))?,
            }
        }
    }
    if r.next_poll_at_ms != NEVER_MS {
        outln!("  every        {}s", r.interval_seconds)?;
    }
    let target = match &r.target {
        Target::Feed => "feed (cardhost events)".to_string(),
        Target::Webhook { url } => format!("webhook {url}"),
    };
    outln!("  target       {target}")?;
    outln!("  events       {}", r.last_seq)?;
    if let Target::Webhook { .. } = r.target {
        outln!("  delivered    {} of {}", r.delivered_seq, r.last_seq)?;
        if let Some(e) = &r.delivery_error {
            outln!(
                "  delivery     {e} ({} attempts; next {})",
                r.delivery_attempts,
                r.next_delivery_at_ms
                    .map_or_else(|| "now".to_string(), |at| rfc3339(at / 1000))
            )?;
        }
    }
    if let Some(at) = r.last_poll_at_ms {
        outln!("  last poll    {}", rfc3339(at / 1000))?;
    }
    if r.next_poll_at_ms != NEVER_MS {
        outln!("  next poll    {}", rfc3339(r.next_poll_at_ms / 1000))?;
    }
    if let Some(e) = &r.last_error {
        outln!("  last error   {e} ({} in a row)", r.failures)?;
    }
    Ok(())
}

/// `cardhost subscriptions …`.
pub async fn run(
    command: SubscriptionsCommand,
    config: Config,
    data_dir: &Path,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let subs = subscriptions(config, data_dir).await?;
    let view = match command {
        SubscriptionsCommand::Create {
            connection,
            trigger,
            interval,
            webhook,
        } => {
            let view = subs
                .create(CreateSubscription {
                    connection,
                    trigger,
                    interval_seconds: interval,
                    target: webhook.map_or(Target::Feed, |url| Target::Webhook { url }),
                })
                .await?;
            if let (Some(secret), false) = (&view.signing_secret, json_output) {
                print_subscription(&view)?;
                outln!("  signing secret {secret}")?;
                outln!(
                    "  (shown once: deliveries carry `cardhost-signature: t=…,v1=…`, \
                     HMAC-SHA256 of `t.body` under this secret)"
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            view
        }
        SubscriptionsCommand::Redeliver { id, from } => {
            let pending = subs.redeliver(&id, from).await?;
            if json_output {
                show_json(&json!({"subscription": id, "pending": pending}))?;
            } else {
                outln!("{pending} events of {id} wait for delivery")?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        SubscriptionsCommand::DeadLetters { id } => {
            let dead = subs.dead_letters(&id).await?;
            if json_output {
                show_json(&json!({"subscription": id, "dead_letters": dead}))?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = dead
                .iter()
                .map(|d| {
                    vec![
                        d.event.seq.to_string(),
                        d.event.id.clone(),
                        rfc3339(d.dead_at_ms / 1000),
                        d.reason.clone(),
                    ]
                })
                .collect();
            print_table(&["SEQ", "EVENT", "DEAD SINCE", "LAST ERROR"], &rows)?;
            return Ok(ExitCode::SUCCESS);
        }
        SubscriptionsCommand::List { connection } => {
            let list = subs.list(connection.as_deref()).await?;
            if json_output {
                show_json(&json!({"subscriptions": list}))?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    let r = &s.record;
                    vec![
                        r.id.clone(),
                        format!("{}/{}", s.connector, r.trigger),
                        r.state.as_str().to_string(),
                        format!("{}s", r.interval_seconds),
                        r.last_seq.to_string(),
                        r.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(
                &["ID", "TRIGGER", "STATE", "EVERY", "EVENTS", "LAST ERROR"],
                &rows,
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        SubscriptionsCommand::Show { id } => subs.show(&id).await?,
        SubscriptionsCommand::Pause { id } => subs.pause(&id).await?,
        SubscriptionsCommand::Resume { id } => subs.resume(&id).await?,
        SubscriptionsCommand::Delete { id } => {
            subs.delete(&id).await?;
            if json_output {
                show_json(&json!({"deleted": id}))?;
            } else {
                outln!("deleted {id}")?;
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    if json_output {
        show_json(&view)?;
    } else {
        print_subscription(&view)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `cardhost events SUBSCRIPTION [--follow]`: one JSON object per event and
/// line, oldest first; `--follow` goes on printing them as they arrive.
pub async fn events(args: EventsArgs, config: Config, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let subs = subscriptions(config, data_dir).await?;
    let mut after = args.after.clone();
    loop {
        let page = subs
            .events(&args.subscription, after.as_deref(), args.limit)
            .await?;
        for e in &page.events {
            let FeedEvent {
                id,
                occurred_at,
                payload,
                seq,
            } = e;
            term::out_json(
                &json!({"seq": seq, "id": id, "occurred_at": occurred_at, "payload": payload})
                    .to_string(),
            )?;
        }
        let drained = page.events.len() < args.limit as usize;
        after = Some(page.next);
        if drained {
            if !args.follow {
                return Ok(ExitCode::SUCCESS);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
