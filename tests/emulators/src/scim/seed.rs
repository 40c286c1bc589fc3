//! Deterministic seed users of a fictional hospitality group, Harbour & Vine,
//! shaped as Fourth's SCIM API describes its accounts: a Fourth Account ID,
//! name, work location, job title (workforce-management users only), country
//! and preferred language, timezone, and a work email that many hospitality
//! staff do not have.
//!
//! Every field of user `i` is a pure function of `i`, so user 17 is the same
//! whatever the count. A few users carry the awkward values filters must
//! survive: apostrophes, spaces, double quotes, backslashes and `+`.

use super::{ENTERPRISE_USER, filter::CORE_USER};
use serde_json::{Value, json};
use std::collections::HashSet;

/// The group's name, the enterprise extension's `organization`.
pub const ORGANIZATION: &str = "Harbour & Vine Hospitality";

/// Email domain of the seed users.
pub const EMAIL_DOMAIN: &str = "harbourvine.example";

/// splitmix64 of an index and a salt.
pub(crate) fn mix(index: usize, salt: u64) -> u64 {
    let mut z = (index as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<T: Copy>(items: &[T], index: usize, salt: u64) -> T {
    items[(mix(index, salt) % items.len() as u64) as usize]
}

/// A work location: `(site name, town, ISO country, locale, IANA timezone,
/// division)`.
pub const SITES: [(&str, &str, &str, &str, &str, &str); 10] = [
    (
        "Harbour & Vine Covent Garden",
        "London",
        "GB",
        "en-GB",
        "Europe/London",
        "Restaurants",
    ),
    (
        "The Anchor, Bristol",
        "Bristol",
        "GB",
        "en-GB",
        "Europe/London",
        "Bars",
    ),
    (
        "The Quay Hotel",
        "Dublin",
        "IE",
        "en-IE",
        "Europe/Dublin",
        "Hotels",
    ),
    (
        "Vine Bistro Chueca",
        "Madrid",
        "ES",
        "es-ES",
        "Europe/Madrid",
        "Restaurants",
    ),
    (
        "Brasserie du Port",
        "Lyon",
        "FR",
        "fr-FR",
        "Europe/Paris",
        "Restaurants",
    ),
    (
        "Harbour & Vine Mitte",
        "Berlin",
        "DE",
        "de-DE",
        "Europe/Berlin",
        "Hotels",
    ),
    (
        "Harbour & Vine Seaport",
        "Boston",
        "US",
        "en-US",
        "America/New_York",
        "Restaurants",
    ),
    (
        "The Grain Store",
        "Chicago",
        "US",
        "en-US",
        "America/Chicago",
        "Bars",
    ),
    (
        "Head Office",
        "Manchester",
        "GB",
        "en-GB",
        "Europe/London",
        "Central Services",
    ),
    (
        "The Salt House",
        "Edinburgh",
        "GB",
        "en-GB",
        "Europe/London",
        "Hotels",
    ),
];

/// Relative staff numbers of the sites.
const SITE_WEIGHTS: [u64; 10] = [14, 10, 12, 8, 7, 9, 10, 8, 6, 9];

/// `(job title, department)` by division: front-line roles first.
fn roles(division: &str) -> &'static [(&'static str, &'static str)] {
    match division {
        "Restaurants" => &[
            ("Waiter", "Front of House"),
            ("Host", "Front of House"),
            ("Chef de Partie", "Kitchen"),
            ("Commis Chef", "Kitchen"),
            ("Kitchen Porter", "Kitchen"),
            ("Sous Chef", "Kitchen"),
            ("Head Chef", "Kitchen"),
            ("Assistant Manager", "Management"),
            ("Restaurant Manager", "Management"),
        ],
        "Bars" => &[
            ("Bartender", "Bar"),
            ("Bar Back", "Bar"),
            ("Bar Supervisor", "Bar"),
            ("Cellar Technician", "Bar"),
            ("General Manager", "Management"),
        ],
        "Hotels" => &[
            ("Room Attendant", "Housekeeping"),
            ("Receptionist", "Front Office"),
            ("Night Porter", "Front Office"),
            ("Housekeeping Supervisor", "Housekeeping"),
            ("Concierge", "Front Office"),
            ("Hotel Manager", "Management"),
        ],
        _ => &[
            ("Payroll Administrator", "Finance"),
            ("HR Advisor", "People"),
            ("Area Manager", "Operations"),
            ("Purchasing Coordinator", "Procurement"),
            ("IT Support Analyst", "Technology"),
        ],
    }
}

/// Given names by locale family, with the odd two-word name.
const GIVEN_EN: [&str; 30] = [
    "Olivia", "Amelia", "Isla", "Mary Ann", "Sophie", "Grace", "Aoife", "Siobhan", "Priya",
    "Zainab", "Oliver", "George", "Jack", "Mohammed", "Callum", "Declan", "Kwame", "Tomasz",
    "Liam", "Rhys", "Emily", "Chloe", "Hannah", "Megan", "Daniel", "Samuel", "Ryan", "Connor",
    "Jessica", "Noah",
];
const GIVEN_ES: [&str; 10] = [
    "Lucía",
    "María José",
    "Carmen",
    "Sofía",
    "Javier",
    "Alejandro",
    "Pablo",
    "Diego",
    "Elena",
    "Marta",
];
const GIVEN_FR: [&str; 10] = [
    "Camille", "Léa", "Chloé", "Manon", "Jean-Luc", "Hugo", "Louis", "Théo", "Inès", "Julien",
];
const GIVEN_DE: [&str; 10] = [
    "Lena", "Hannah", "Mia", "Jürgen", "Lukas", "Felix", "Jonas", "Anja", "Katrin", "Tobias",
];
const GIVEN_US: [&str; 12] = [
    "Ava", "Emma", "Madison", "Tyler", "Brandon", "Jayden", "Mia", "Ethan", "Chloe", "Marcus",
    "Destiny", "Luis",
];

const FAMILY_EN: [&str; 28] = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "O'Neill",
    "O'Brien",
    "D'Arcy",
    "Murphy",
    "Byrne",
    "Walsh",
    "Khan",
    "Patel",
    "Begum",
    "Nowak",
    "Okafor",
    "Mensah",
    "Campbell",
    "Mac an tSaoir",
    "Ní Bhriain",
    "Fitzgerald",
    "Hughes",
    "Roberts",
    "Quinn",
    "Kelly",
    "Stewart",
];
const FAMILY_ES: [&str; 8] = [
    "García",
    "Fernández",
    "López",
    "Martín",
    "De la Cruz",
    "Sánchez",
    "Romero",
    "Navarro",
];
const FAMILY_FR: [&str; 8] = [
    "Martin",
    "Bernard",
    "Dubois",
    "Lefèvre",
    "Moreau",
    "D'Almeida",
    "Girard",
    "Fontaine",
];
const FAMILY_DE: [&str; 8] = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "van der Berg",
    "Weber",
    "Becker",
    "Hoffmann",
];
const FAMILY_US: [&str; 10] = [
    "Johnson",
    "Williams",
    "Miller",
    "Rodriguez",
    "Nguyen",
    "Washington",
    "O'Connor",
    "Kim",
    "Hernandez",
    "Jackson",
];

/// Languages colleagues in some sites prefer over the site's own.
const OTHER_LANGUAGES: [&str; 6] = ["pl-PL", "es-ES", "pt-PT", "ro-RO", "it-IT", "en-GB"];

pub(crate) use cardhost_rules::time::days_from_civil;

/// Unix seconds as `2025-03-14T09:30:00Z`.
pub fn format_timestamp(secs: i64) -> String {
    cardhost_rules::time::rfc3339_utc(secs)
}

/// A Fourth Account ID: a version-4-shaped UUID derived from `n`.
pub fn account_id(n: usize) -> String {
    let a = mix(n, 101);
    let b = mix(n, 102);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        8 + (b >> 62),
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

fn ascii_local(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            let base = match c {
                'á' | 'à' | 'â' | 'ä' => 'a',
                'é' | 'è' | 'ê' | 'ë' => 'e',
                'í' | 'ì' | 'î' | 'ï' => 'i',
                'ó' | 'ò' | 'ô' | 'ö' => 'o',
                'ú' | 'ù' | 'û' | 'ü' => 'u',
                'ñ' => 'n',
                'ç' => 'c',
                c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
                _ => return None,
            };
            Some(base)
        })
        .collect()
}

/// The seed's "today": 2025-09-30.
pub fn seed_today() -> i64 {
    days_from_civil(2025, 9, 30)
}

/// The users of the seed, in creation order.
pub fn users(count: usize, location_base: &str) -> Vec<Value> {
    let mut used = HashSet::new();
    (0..count)
        .map(|i| user(i, location_base, &mut used))
        .collect()
}

fn user(i: usize, location_base: &str, used: &mut HashSet<String>) -> Value {
    let total: u64 = SITE_WEIGHTS.iter().sum();
    let mut roll = mix(i, 1) % total;
    let mut site_index = 0;
    for (s, weight) in SITE_WEIGHTS.iter().enumerate() {
        if roll < *weight {
            site_index = s;
            break;
        }
        roll -= weight;
    }
    let (site, town, country, site_locale, timezone, division) = SITES[site_index];
    let (given, family): (&str, &str) = match country {
        "ES" => (pick(&GIVEN_ES, i, 2), pick(&FAMILY_ES, i, 3)),
        "FR" => (pick(&GIVEN_FR, i, 2), pick(&FAMILY_FR, i, 3)),
        "DE" => (pick(&GIVEN_DE, i, 2), pick(&FAMILY_DE, i, 3)),
        "US" => (pick(&GIVEN_US, i, 2), pick(&FAMILY_US, i, 3)),
        _ => (pick(&GIVEN_EN, i, 2), pick(&FAMILY_EN, i, 3)),
    };
    let preferred_language = if mix(i, 4).is_multiple_of(10) {
        pick(&OTHER_LANGUAGES, i, 5)
    } else {
        site_locale
    };
    let role_list = roles(division);
    // Front-line roles are far more common than managers.
    let role_roll = (mix(i, 6) % 100) as usize;
    let role_index = (role_roll * role_roll * role_list.len()) / 10_000;
    let (title, department) = role_list[role_index.min(role_list.len() - 1)];
    // Job titles come from workforce management; some accounts (purchasing,
    // inventory-only users) have none.
    let has_title = mix(i, 7) % 100 >= 12;
    let has_email = i == 5
        || division == "Central Services"
        || title.contains("Manager")
        || title.contains("Chef")
        || mix(i, 8) % 100 < 45;

    let base = format!("{}.{}", ascii_local(given), ascii_local(family));
    let mut email = None;
    let mut user_name = if has_email {
        let mut candidate = format!("{base}@{EMAIL_DOMAIN}");
        let mut n = 2;
        while used.contains(&candidate.to_lowercase()) {
            candidate = format!("{base}{n}@{EMAIL_DOMAIN}");
            n += 1;
        }
        email = Some(candidate.clone());
        candidate
    } else {
        let mut candidate = format!("{base}.{:04}", 1000 + mix(i, 9) % 9000);
        while used.contains(&candidate.to_lowercase()) {
            candidate.push('x');
        }
        candidate
    };
    let mut display_name = format!("{given} {family}");
    // The awkward values filters must carry.
    match i {
        3 => {
            let short: String = given.chars().take(3).collect();
            display_name = format!("{given} \"{short}\" {family}");
        }
        5 => {
            let plus = format!("{}+rota@{EMAIL_DOMAIN}", ascii_local(given));
            if !used.contains(&plus) {
                email = Some(plus.clone());
                user_name = plus;
            }
        }
        11 => {
            user_name = format!(
                "HARBOUR\\{}{}",
                &ascii_local(given)[..1],
                ascii_local(family)
            )
        }
        _ => {}
    }
    used.insert(user_name.to_lowercase());

    let today = seed_today();
    let first = days_from_civil(2019, 1, 7);
    let created_day = first + (mix(i, 10) % (days_from_civil(2025, 6, 30) - first) as u64) as i64;
    let created = created_day * 86_400 + 6 * 3600 + (mix(i, 11) % (12 * 3600)) as i64;
    let modified_floor = created_day.max(days_from_civil(2024, 6, 1));
    let modified_day = modified_floor + (mix(i, 12) % ((today - modified_floor + 1) as u64)) as i64;
    let modified =
        (modified_day * 86_400 + 6 * 3600 + (mix(i, 13) % (14 * 3600)) as i64).max(created + 60);
    let active = mix(i, 14) % 100 >= 12;
    let employee_number = (mix(i, 15) % 100 >= 5).then(|| format!("HV{:06}", 100 + i));

    let id = account_id(i);
    let mut resource = json!({
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "id": id,
        "userName": user_name,
        "name": {
            "givenName": given,
            "familyName": family,
            "formatted": format!("{given} {family}"),
        },
        "displayName": display_name,
        "active": active,
        "addresses": [{
            "type": "work",
            "formatted": site,
            "locality": town,
            "country": country,
            "primary": true,
        }],
        "preferredLanguage": preferred_language,
        "locale": site_locale,
        "timezone": timezone,
        ENTERPRISE_USER: {
            "organization": ORGANIZATION,
            "division": division,
            "department": department,
        },
        "meta": {
            "resourceType": "User",
            "created": format_timestamp(created),
            "lastModified": format_timestamp(modified),
            "location": format!("{location_base}/Users/{id}"),
            "version": format!("W/\"{}\"", 1 + mix(i, 16) % 9),
        },
    });
    if let Some(number) = employee_number {
        resource["externalId"] = json!(number);
        resource[ENTERPRISE_USER]["employeeNumber"] = json!(number);
    }
    if has_title {
        resource["title"] = json!(title);
    }
    if let Some(email) = email {
        resource["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_deterministic_and_unique() {
        let a = users(320, "http://x/scim/v2");
        assert_eq!(a, users(320, "http://x/scim/v2"));
        assert_eq!(users(20, "http://x/scim/v2")[..], a[..20]);
        let ids: HashSet<_> = a.iter().map(|u| u["id"].clone()).collect();
        assert_eq!(ids.len(), 320);
        let names: HashSet<_> = a
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_lowercase())
            .collect();
        assert_eq!(names.len(), 320, "userName is unique, case-insensitively");
        for u in &a {
            assert!(u["meta"]["lastModified"].as_str() > u["meta"]["created"].as_str());
            let id = u["id"].as_str().unwrap();
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4");
        }
        let without_email = a.iter().filter(|u| u.get("emails").is_none()).count();
        assert!(without_email > 50, "many staff have no work email");
        assert!(a.iter().any(|u| u.get("title").is_none()));
        assert!(a.iter().any(|u| u["active"] == false));
        assert!(a[3]["displayName"].as_str().unwrap().contains('"'));
        assert!(a[11]["userName"].as_str().unwrap().contains('\\'));
        assert!(
            a.iter()
                .any(|u| u["name"]["familyName"].as_str().unwrap().contains('\''))
        );
        assert!(
            a.iter()
                .any(|u| u["name"]["familyName"].as_str().unwrap().contains(' '))
        );
    }

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(format_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            crate::advanced_hr::parse_timestamp(&format_timestamp(1_750_000_123)),
            Some(1_750_000_123)
        );
    }
}
