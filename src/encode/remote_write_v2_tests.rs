//! Tests of the Remote-Write 2.0 body.
