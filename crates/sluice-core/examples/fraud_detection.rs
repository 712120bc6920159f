//! Stateful stream processing (seed 002): a fraud detector that keeps each user's recent
//! spending and raises an alert when it passes a limit; state of idle users expires.

use std::time::Duration;

use sluice_core::{Flow, Operators};

#[derive(Debug, Clone)]
struct Transaction {
    id: String,
    user: &'static str,
    amount: f64,
}

#[derive(Debug)]
struct Alert {
    user: &'static str,
    reason: String,
    transactions: Vec<String>,
}

/// What the detector remembers per user.
#[derive(Default)]
struct Spending {
    total: f64,
    recent: Vec<String>,
}

fn transactions() -> Vec<Transaction> {
    let users = ["user1", "user2", "user3", "user4"];
    (0..20)
        .map(|i| {
            let user = users[i % users.len()];
            let mut amount = 10.0 + (i % 5) as f64 * 20.0;
            if user == "user3" && i > 10 {
                amount = 500.0 + (i % 3) as f64 * 200.0;
            }
            Transaction {
                id: format!("tx-{i}"),
                user,
                amount,
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let alerts = Flow::from_iter(transactions())
        .key_by(|tx| tx.user)
        .ttl(Duration::from_secs(3600))
        .scan(
            |_user| Spending::default(),
            |state, tx| {
                state.total += tx.amount;
                state.recent.push(tx.id);
                (state.total > 1000.0).then(|| {
                    let alert = Alert {
                        user: tx.user,
                        reason: format!("high transaction volume: ${:.2}", state.total),
                        transactions: std::mem::take(&mut state.recent),
                    };
                    state.total = 0.0;
                    alert
                })
            },
        )
        .collect()
        .await?;
    for alert in alerts {
        println!(
            "ALERT for {}: {} ({} transactions, latest {})",
            alert.user,
            alert.reason,
            alert.transactions.len(),
            alert.transactions.last().map_or("-", String::as_str)
        );
    }
    Ok(())
}
