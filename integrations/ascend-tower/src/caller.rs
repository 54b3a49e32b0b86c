//! [`Caller`]: who is making the request, put in the request's extensions by the service's
//! own authentication (a layer or middleware that runs before [`crate::GovernLayer`]).

/// The agent identity a governed request is attributed to.
///
/// ```
/// use ascend_tower::Caller;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(Caller::new("billing-bot").with_name("Billing Bot"));
/// assert_eq!(request.extensions().get::<Caller>().unwrap().agent_id(), "billing-bot");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    agent_id: String,
    agent_name: Option<String>,
}

impl Caller {
    /// A caller with this agent id.
    pub fn new(agent_id: impl Into<String>) -> Self {
        Caller {
            agent_id: agent_id.into(),
            agent_name: None,
        }
    }

    /// Set the display name (the agent id is used when none is given).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.agent_name = Some(name.into());
        self
    }

    /// The agent id.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The display name.
    pub fn agent_name(&self) -> &str {
        self.agent_name.as_deref().unwrap_or(&self.agent_id)
    }
}
