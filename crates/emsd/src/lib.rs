//! `emsd`, the EMS relay daemon, and `ems`, the client (in progress).
