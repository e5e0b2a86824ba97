//! Who may do what in a tenant's admin: the roles of tenant API keys.
//!
//! A business is given keys, never the operator's token (which opens every tenant). Each key
//! has one role, and each admin route asks for one [`Need`]; the table is here, as one pure
//! function, so the admin service and its tests read the same rules.

use serde::{Deserialize, Serialize};

/// A tenant API key's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything of the tenant: channels and their secrets, desks, agents, keys, deletion.
    Owner,
    /// The bot's content and behaviour: knowledge, accounts, bot settings, the playground,
    /// resolving conversations.
    Editor,
    /// Reading: reports, conversations, knowledge, the outbox and the audit log.
    Viewer,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// To read the tenant's data.
    Read,
    /// To change the bot's knowledge and behaviour.
    Edit,
    /// To change who can reach the tenant and how: channels, desks, agents, keys.
    Own,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Role::Owner, Role::Editor, Role::Viewer];

    /// Whether this role meets `need`.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Read => true,
            Need::Edit => matches!(self, Role::Owner | Role::Editor),
            Need::Own => self == Role::Owner,
        }
    }

    /// The role's name, as in the API (`owner`, `editor`, `viewer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    /// Reads a role's name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_nested() {
        let table: Vec<[bool; 3]> = Role::ALL
            .iter()
            .map(|r| {
                [
                    r.allows(Need::Read),
                    r.allows(Need::Edit),
                    r.allows(Need::Own),
                ]
            })
            .collect();
        assert_eq!(
            table,
            [
                [true, true, true],
                [true, true, false],
                [true, false, false]
            ]
        );
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
