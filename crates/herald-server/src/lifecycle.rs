//! The server's lifecycle: [`serve`] runs the front door, the dispatcher (replaced by
//! [`supervise`] when a reload changes the set of sinks), retention and the refusal log's
//! teller until `stop` resolves, then shuts them down in order.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::{AppState, frontdoor, metrics, refusals, reload, retention, routes};

/// Serves [`routes`] on `listener` and runs the [`Dispatcher`](crate::Dispatcher) beside it until `stop`
/// resolves, then shuts down as the crate docs describe. Returns once both have stopped.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stopping, stopped) = watch::channel(false);
    let stop_now = Arc::new(stopping);
    let stopper = stop_now.clone();
    tokio::spawn(async move {
        stop.await;
        let _ = stopper.send(true);
    });
    let grace = state.policy().shutdown_grace;
    metrics::config_loaded(true, reload::unix_seconds(state.clock().now()));
    state.register_metrics();
    let dispatcher = tokio::spawn(supervise(state.clone(), stopped.clone()));
    if let Some(signals) = state.store().work_signals() {
        tokio::spawn(wake_on(signals, state.wake(), stopped.clone()));
    }
    let pruner = state.clone();
    tokio::spawn(retention::run(
        state.store().clone(),
        move || pruner.config().storage.retention_days,
        state.clock(),
        retention::EVERY,
        stopped.clone(),
    ));
    // Stopped only once the HTTP server is, so its last line counts every refusal.
    let (served_all, teller_stop) = watch::channel(false);
    let teller = tokio::spawn(tell_refusals(state.refusals().clone(), teller_stop));
    let app = routes(state.clone());
    let limits = frontdoor::Limits::from_config(&state.config().server).fitted_to_file_limit();
    tracing::debug!(?limits, "front door limits");
    let door = frontdoor::FrontDoor::new(limits);
    let mut http = tokio::spawn(frontdoor::serve(listener, app, door, stopped.clone()));

    let served = tokio::select! {
        () = signal(stopped) => {
            // Requests are short (they never wait on a sink), so the grace bounds them
            // generously; a client that keeps a connection open must not hold the exit up.
            match tokio::time::timeout(grace, &mut http).await {
                Ok(joined) => flatten(joined),
                Err(_) => {
                    tracing::warn!(
                        grace_seconds = grace.as_secs(),
                        "requests still open after the shutdown grace; closing them"
                    );
                    http.abort();
                    Ok(())
                }
            }
        }
        // The listener failed before any stop: stop the dispatcher too and report it.
        joined = &mut http => {
            let _ = stop_now.send(true);
            flatten(joined)
        }
    };
    let _ = served_all.send(true);
    let _ = teller.await;
    dispatcher.await.context("the dispatcher task failed")?;
    served
}

fn flatten(joined: Result<std::io::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    joined
        .context("the HTTP server task failed")?
        .context("the HTTP server failed")
}

/// Runs the dispatcher until `stopped`, replacing it when a reload changes the set of sinks
/// (a dispatcher has one lane per sink). The old one stops leasing at once and finishes its
/// running attempts within the shutdown grace, beside the new one.
async fn supervise(state: AppState, stopped: watch::Receiver<bool>) {
    let mut reloads = state.inner.reloads.subscribe();
    let mut retiring = tokio::task::JoinSet::new();
    loop {
        let names = state.sink_names();
        let (retire, retired) = watch::channel(false);
        let current = tokio::spawn(state.dispatcher().run(signal(retired)));
        let stopping = loop {
            tokio::select! {
                () = signal(stopped.clone()) => break true,
                changed = reloads.changed() => {
                    if changed.is_err() {
                        break true;
                    }
                    if state.sink_names() != names {
                        tracing::info!("the sinks changed; starting a dispatcher for the new set");
                        break false;
                    }
                }
            }
        };
        let _ = retire.send(true);
        if stopping {
            if let Err(e) = current.await {
                tracing::error!(error = %e, "the dispatcher task failed");
            }
            while retiring.join_next().await.is_some() {}
            return;
        }
        retiring.spawn(async move {
            let _ = current.await;
        });
    }
}

/// Wakes the dispatcher each time another instance sharing the store says it stored work
/// (see [`herald_store::Store::work_signals`]), until `stopped`.
async fn wake_on(
    mut signals: watch::Receiver<u64>,
    wake: Arc<Notify>,
    stopped: watch::Receiver<bool>,
) {
    let stop = signal(stopped);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            changed = signals.changed() => {
                if changed.is_err() {
                    return;
                }
                wake.notify_one();
            }
        }
    }
}

/// Logs the refusals of each interval that ended, every few seconds, and what is left at
/// shutdown (see [`refusals`]).
async fn tell_refusals(log: Arc<refusals::RefusalLog>, stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(refusals::TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = signal(stopped);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {
                for line in log.due(tokio::time::Instant::now(), false) {
                    line.log();
                }
            }
        }
    }
    for line in log.due(tokio::time::Instant::now(), true) {
        line.log();
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
