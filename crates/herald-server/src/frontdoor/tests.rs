//! The front door's registry: which connection makes room for a newcomer, and how the body
//! budget is shared.
