//! `awe migrate`: applies the database migrations (`migrations/`), each once.

use crate::adapters::config::Config;
use crate::adapters::store;

pub async fn command(config: &Config) -> anyhow::Result<()> {
    let pool = store::connect(&config.database).await?;
    store::migrate(&pool).await?;
    println!("migrations applied");
    Ok(())
}
