//! The runner workflow format: parsing, validation and planning.
