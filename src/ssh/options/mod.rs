//! What an ssh command line may carry, validated: the destination ([`target`]), the agent's
//! `extra_ssh_args` read with ssh's getopt ([`extra_ssh_args`]) against the tables of
//! [`allowlist`], and the whole [`connection`] to one host with its pool key. The argv builder
//! (`super::argv`) takes these types only.

pub mod allowlist;
pub mod connection;
pub mod extra_ssh_args;
pub mod target;
