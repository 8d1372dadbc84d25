//! Display names: what other players see instead of the player id (which
//! may be an account id). A name comes from the token's `name` claim or the
//! guest's chosen name, and is cleaned before anyone sees it: control,
//! bidirectional-override and zero-width (invisible) characters are removed,
//! runs of whitespace become one space, and it is cut to [`MAX_NAME_CHARS`].

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// Characters that change how surrounding text renders without being seen:
/// soft hyphen, zero-width and joiner characters, bidirectional marks,
/// embeddings, overrides and isolates, word joiner and invisible operators,
/// the byte-order mark, interlinear annotation marks and tag characters.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// `raw` cleaned for display; `None` when nothing visible is left.
pub fn sanitize(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(MAX_NAME_CHARS * 4));
    let mut chars = 0;
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_control() || is_invisible(c) {
            continue;
        }
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            if chars + 1 >= MAX_NAME_CHARS {
                break;
            }
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        if chars == MAX_NAME_CHARS {
            break;
        }
        out.push(c);
        chars += 1;
    }
    (!out.is_empty()).then_some(out)
}

/// The name of a player whose token carries none: `Player-` and four hex
/// digits derived from the player id (stable, and not the id itself).
pub fn anonymous(player_id: &str) -> String {
    use std::hash::{Hash, Hasher};
    // DefaultHasher::new() has fixed keys: the same id gets the same name on every node.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    player_id.hash(&mut hasher);
    format!("Player-{:04X}", hasher.finish() & 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bidi_and_zero_width_characters_are_removed() {
        assert_eq!(
            sanitize("A\u{202E}da\u{200B}\u{0007}\n  Love\u{FEFF}lace ").as_deref(),
            Some("Ada Lovelace")
        );
    }

    #[test]
    fn names_are_cut_to_the_limit_and_blank_names_are_none() {
        let long = "x".repeat(100);
        assert_eq!(
            sanitize(&long).map(|n| n.chars().count()),
            Some(MAX_NAME_CHARS)
        );
        assert_eq!(sanitize(" \u{200D}\t\u{2066} "), None);
        assert_eq!(
            sanitize("é".repeat(40).as_str()).map(|n| n.chars().count()),
            Some(32)
        );
    }
}
