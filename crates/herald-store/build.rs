//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the files it found,
//! but cargo only knows to look again when told the folders matter.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations_pg");
}
