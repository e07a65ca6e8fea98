//! Project automation: `cargo xtask <task>`.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("usage: cargo xtask <test|demo>")
}
