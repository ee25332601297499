//! `postern suppression list|add|remove`: the suppression list from the command line (the same
//! rows as `/api/v1/suppressions`).

use crate::{Cli, exit, open_store};
use clap::Subcommand;
use postern_model::{SuppressionCause, SuppressionId, SuppressionScope};
use postern_store::{PageRequest, StoreError, Suppression, SuppressionInput};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub(crate) enum SuppressionCommand {
    /// The suppressed addresses: id, address, scope, cause, since, detail.
    List {
        /// Only this address.
        #[arg(long)]
        address: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop sending to an address.
    Add {
        /// The address.
        address: String,
        /// `all` (no mail at all) or `mass` (no mass mail; transactional mail still goes).
        #[arg(long, default_value = "all")]
        scope: SuppressionScope,
        /// A note.
        #[arg(long)]
        detail: Option<String>,
    },
    /// Send to an address again: removes suppression ID.
    Remove {
        /// The suppression's id (see `list`).
        id: i64,
    },
}

pub(crate) async fn suppression(
    cli: &Cli,
    command: &SuppressionCommand,
) -> anyhow::Result<ExitCode> {
    let store = open_store(cli).await?;
    let mut tx = store.begin().await?;
    let result = match command {
        SuppressionCommand::List { address, json } => {
            let rows = tx
                .list_suppressions(address.as_deref(), PageRequest::all())
                .await?;
            print_list(&rows.items, *json)
        }
        SuppressionCommand::Add {
            address,
            scope,
            detail,
        } => {
            let input = SuppressionInput {
                address: address.clone(),
                scope: Some(*scope),
                cause: Some(SuppressionCause::Manual),
                detail: detail.clone(),
            };
            tx.suppress(&input).await.map(|s| {
                println!("suppressed: {} ({}), id {}", s.address, s.scope, s.id);
            })
        }
        SuppressionCommand::Remove { id } => {
            tx.delete_suppression(SuppressionId(*id)).await.map(|()| {
                println!("suppression {id} removed");
            })
        }
    };
    // The transaction ends before the store closes (closing waits for every connection).
    if result.is_ok() {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ StoreError::NotFound { .. }) => {
            eprintln!("postern: {e}");
            ExitCode::from(exit::NOINPUT)
        }
        Err(e @ StoreError::Invalid { .. }) => {
            eprintln!("postern: {e}");
            ExitCode::from(exit::USAGE)
        }
        Err(e) => return Err(e.into()),
    };
    store.close().await;
    Ok(code)
}

fn print_list(rows: &[Suppression], json: bool) -> Result<(), StoreError> {
    if json {
        println!("{}", serde_json::to_string_pretty(rows).unwrap_or_default());
        return Ok(());
    }
    for s in rows {
        println!(
            "{:>6}  {:<40}  {:<4}  {}",
            s.id,
            s.address,
            s.scope,
            s.describe()
        );
    }
    if rows.is_empty() {
        println!("no address is suppressed");
    }
    Ok(())
}
