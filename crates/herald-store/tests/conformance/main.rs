//! The store's conformance suite: one set of behaviour tests, written against
//! `Arc<dyn Store>` only, that every backend must pass. Each case is an `async fn(Backend)`
//! in one of the modules below; [`for_each_backend!`] turns the list of cases of a module
//! into one test per case and backend (`store::sqlite::...`, `store::postgres::...`), so a backend is added in one
//! place and no case can be forgotten for one of them.
//!
//! Time is passed in, never slept on: leases expire because a later `now` is handed over.

mod admin;
mod attempts;
mod backend;
mod fixtures;
mod issues;
mod noise;
mod queue;
mod store;

pub use backend::Backend;

/// One `#[tokio::test]` per case and backend, in a module named after the backend.
#[macro_export]
macro_rules! for_each_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::Backend::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::Backend::postgres().await).await;
                }
            )*
        }
    };
}
