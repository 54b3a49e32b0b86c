//! Support code shared by the runnable examples and the end-to-end tests of the workspace.
