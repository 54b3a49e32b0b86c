use ascend_runtime::governed;

#[governed(action_type = "database.read", resource = "settings")]
struct Settings;

trait Tool {
    #[governed(action_type = "database.read", resource = "settings")]
    fn run(&self) -> Result<(), ascend_runtime::Error>;
}

fn main() {}
