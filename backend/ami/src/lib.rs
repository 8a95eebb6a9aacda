//! Asterisk Manager Interface (AMI) client.
