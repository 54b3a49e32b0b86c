//! # ascend-server
//!
//! The self-hosted governance control plane.

#![forbid(unsafe_code)]
