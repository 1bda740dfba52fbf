//! End-to-end tests: they run the real `herald` binary the way a user does.
