//! Paycor seed data: the name and place tables, deterministic GUIDs and
//! dates, the stored record types and the seeding of legal entities,
//! locations, departments, employees and persons.

use super::LegalEntitySeed;
use std::collections::HashMap;

pub(super) const FIRST_NAMES: [&str; 40] = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
    "Kevin",
    "Carol",
];

pub(super) const LAST_NAMES: [&str; 40] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "O'Brien",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
];

pub(super) const DEPARTMENTS: [&str; 18] = [
    "Executive",
    "Finance",
    "Payroll",
    "Human Resources",
    "Sales",
    "Marketing",
    "Operations",
    "Warehouse",
    "Customer Service",
    "Information Technology",
    "Legal",
    "Purchasing",
    "Facilities",
    "Quality",
    "Research",
    "Training",
    "Logistics",
    "Retail Stores",
];

/// (name, street, city, county, state, zip)
pub(super) const LOCATIONS: [(&str, &str, &str, &str, &str, &str); 3] = [
    (
        "Cincinnati HQ",
        "4811 Montgomery Road",
        "Cincinnati",
        "Hamilton",
        "OH",
        "45212",
    ),
    (
        "Columbus Distribution Center",
        "1500 Lake Shore Drive",
        "Columbus",
        "Franklin",
        "OH",
        "43204",
    ),
    (
        "Dayton Store",
        "120 West Second Street",
        "Dayton",
        "Montgomery",
        "OH",
        "45402",
    ),
];

/// (city, county, zip) of home addresses.
pub(super) const HOME_CITIES: [(&str, &str, &str); 6] = [
    ("Cincinnati", "Hamilton", "45208"),
    ("Norwood", "Hamilton", "45212"),
    ("Mason", "Warren", "45040"),
    ("Columbus", "Franklin", "43215"),
    ("Dayton", "Montgomery", "45409"),
    ("Loveland", "Clermont", "45140"),
];

pub(super) const STREETS: [&str; 8] = [
    "Maple Avenue",
    "Oak Street",
    "Vine Street",
    "Elm Street",
    "Ludlow Avenue",
    "Madison Road",
    "Erie Avenue",
    "Observatory Avenue",
];

pub(super) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic GUID for (`kind`, `a`, `b`).
pub(super) fn guid(kind: u64, a: u64, b: u64) -> String {
    let h1 = splitmix(kind.wrapping_mul(0x1000_0000_01B3) ^ a.rotate_left(17) ^ b);
    let h2 = splitmix(h1 ^ b.rotate_left(29) ^ kind);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        h1 >> 32,
        (h1 >> 16) & 0xffff,
        0x4000 | (h1 & 0x0fff),
        0x8000 | ((h2 >> 48) & 0x3fff),
        h2 & 0xffff_ffff_ffff
    )
}

/// Whether `text` is a GUID (8-4-4-4-12 hex digits).
pub(super) fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `YYYY-MM-DDT00:00:00Z` of a day counted from 1970-01-01.
pub(super) fn date(days: i64) -> String {
    format!("{}T00:00:00Z", cardhost_rules::time::date(days))
}

/// Days from 1970-01-01 to 2008-01-01 and to 1960-01-01.
pub(super) const DAY_2008: i64 = 13_879;
pub(super) const DAY_1960: i64 = -3_653;

#[derive(Debug, Clone)]
pub(super) struct LegalEntityRec {
    pub(super) id: i64,
    pub(super) tenant_id: i64,
    pub(super) name: String,
}

#[derive(Debug, Clone)]
pub(super) struct LocationRec {
    pub(super) id: String,
    pub(super) name: &'static str,
    pub(super) street: &'static str,
    pub(super) city: &'static str,
    pub(super) county: &'static str,
    pub(super) state: &'static str,
    pub(super) zip: &'static str,
}

#[derive(Debug, Clone)]
pub(super) struct DepartmentRec {
    pub(super) id: String,
    pub(super) le: i64,
    pub(super) code: i64,
    pub(super) description: String,
    pub(super) parent: Option<usize>,
    pub(super) level: i64,
    pub(super) payroll_id: String,
    pub(super) location: usize,
}

#[derive(Debug, Clone)]
pub(super) struct EmployeeRec {
    pub(super) id: String,
    pub(super) le: i64,
    pub(super) number: i64,
    pub(super) first: String,
    pub(super) middle: Option<String>,
    pub(super) last: String,
    pub(super) work_email: Option<String>,
    pub(super) person: usize,
    pub(super) department: usize,
    pub(super) location: usize,
    pub(super) hire_day: i64,
    pub(super) termination: Option<(i64, &'static str)>,
    pub(super) status: &'static str,
    pub(super) full_time: bool,
    pub(super) flsa: &'static str,
    pub(super) kind: &'static str,
    pub(super) job_title: String,
    pub(super) job_code: String,
    pub(super) manager: Option<usize>,
    pub(super) pay_group: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PhoneRec {
    pub(super) kind: String,
    pub(super) country_code: Option<String>,
    pub(super) area_code: Option<String>,
    pub(super) number: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AddressRec {
    pub(super) kind: String,
    pub(super) street1: String,
    pub(super) street2: Option<String>,
    pub(super) suite: Option<String>,
    pub(super) city: Option<String>,
    pub(super) county: Option<String>,
    pub(super) state: Option<String>,
    pub(super) zip: String,
    pub(super) country: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct PersonRec {
    pub(super) id: String,
    pub(super) tenant_id: i64,
    pub(super) first: String,
    pub(super) middle: Option<String>,
    pub(super) last: String,
    pub(super) ssn: String,
    pub(super) home_email: Option<String>,
    pub(super) birth_day: i64,
    pub(super) gender: &'static str,
    pub(super) married: bool,
    pub(super) addresses: Vec<AddressRec>,
    pub(super) phones: Vec<PhoneRec>,
    pub(super) emergency: (String, String, &'static str),
    pub(super) employees: Vec<usize>,
}

#[derive(Debug, Default)]
pub(super) struct Data {
    pub(super) legal_entities: Vec<LegalEntityRec>,
    pub(super) locations: HashMap<i64, Vec<LocationRec>>,
    pub(super) departments: Vec<DepartmentRec>,
    pub(super) employees: Vec<EmployeeRec>,
    pub(super) persons: Vec<PersonRec>,
    pub(super) employee_index: HashMap<String, usize>,
    pub(super) person_index: HashMap<String, usize>,
}

pub(super) fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

pub(super) fn email_part(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub(super) fn seed(entities: &[LegalEntitySeed]) -> Data {
    let mut data = Data::default();
    for (n, seed) in entities.iter().enumerate() {
        let le = seed.id;
        let words: Vec<&str> = seed.name.split_whitespace().collect();
        let domain = format!("{}.example", slug(&words[..words.len().min(2)].join(" ")));
        data.legal_entities.push(LegalEntityRec {
            id: le,
            tenant_id: seed.tenant_id,
            name: seed.name.clone(),
        });
        let locations: Vec<LocationRec> = LOCATIONS
            .iter()
            .enumerate()
            .map(
                |(i, (name, street, city, county, state, zip))| LocationRec {
                    id: guid(3, le as u64, i as u64),
                    name,
                    street,
                    city,
                    county,
                    state,
                    zip,
                },
            )
            .collect();
        data.locations.insert(le, locations);
        let first_department = data.departments.len();
        let count = seed.departments.max(1);
        for i in 0..count {
            let (parent, level) = match i {
                0 => (None, 1),
                1..=5 => (Some(first_department), 2),
                _ => (Some(first_department + 1 + (i % 5)), 3),
            };
            data.departments.push(DepartmentRec {
                id: guid(4, le as u64, i as u64),
                le,
                code: 100 + 10 * i as i64,
                description: DEPARTMENTS[i % DEPARTMENTS.len()].to_string(),
                parent,
                level,
                payroll_id: guid(5, le as u64, i as u64),
                location: i % LOCATIONS.len(),
            });
        }
        let first_employee = data.employees.len();
        let number_base = 1000 + 10_000 * n as i64;
        for i in 0..seed.employees {
            let first = FIRST_NAMES[(i + n * 7) % FIRST_NAMES.len()];
            let last = LAST_NAMES[(i / FIRST_NAMES.len() + i * 7 + n) % LAST_NAMES.len()];
            let middle = (i % 3 != 2).then(|| FIRST_NAMES[(i * 11 + 5) % FIRST_NAMES.len()]);
            let number = number_base + i as i64 + 1;
            let department = first_department + i % count;
            let (status, termination) = if i > 0 && i % 23 == 0 {
                (
                    "Terminated",
                    Some((
                        DAY_2008 + 5_000 + (i as i64 * 13) % 900,
                        if i % 2 == 0 { "Resigned" } else { "Relocated" },
                    )),
                )
            } else if i % 31 == 5 {
                ("LeaveWithPay", None)
            } else if i % 47 == 7 {
                (
                    "Retired",
                    Some((DAY_2008 + 5_200 + i as i64 % 300, "Retired")),
                )
            } else {
                ("Active", None)
            };
            let leads = i % 10 == 0;
            let department_name = data.departments[department].description.clone();
            let person_index = data.persons.len();
            let employee_index = data.employees.len();
            let id = guid(1, le as u64, i as u64);
            let person_id = guid(2, le as u64, i as u64);
            let (city, county, zip) = HOME_CITIES[i % HOME_CITIES.len()];
            let mut phones = vec![PhoneRec {
                kind: "Mobile".into(),
                country_code: Some("1".into()),
                area_code: Some("513".into()),
                number: format!("555-01{:02}", i % 100),
            }];
            if i % 4 == 1 {
                phones.push(PhoneRec {
                    kind: "Home".into(),
                    country_code: Some("1".into()),
                    area_code: Some("937".into()),
                    number: format!("555-01{:02}", (i * 7) % 100),
                });
            }
            data.persons.push(PersonRec {
                id: person_id.clone(),
                tenant_id: seed.tenant_id,
                first: first.into(),
                middle: middle.map(str::to_string),
                last: last.into(),
                ssn: format!(
                    "9{:02}-{:02}-{:04}",
                    i % 100,
                    10 + (i / 100) % 90,
                    1000 + i % 9000
                ),
                home_email: (i % 11 != 3).then(|| {
                    format!(
                        "{}.{}{}@mail.example",
                        email_part(first),
                        email_part(last),
                        i % 97
                    )
                }),
                birth_day: DAY_1960 + (i as i64 * 113) % 14_000,
                gender: if FIRST_NAMES.iter().position(|f| *f == first).unwrap_or(0) % 2 == 0 {
                    "Male"
                } else {
                    "Female"
                },
                married: i % 3 == 1,
                addresses: vec![AddressRec {
                    kind: "Primary".into(),
                    street1: format!("{} {}", 100 + (i * 37) % 9000, STREETS[i % STREETS.len()]),
                    street2: None,
                    suite: None,
                    city: Some(city.into()),
                    county: Some(county.into()),
                    state: Some("OH".into()),
                    zip: zip.into(),
                    country: Some("USA".into()),
                }],
                phones,
                emergency: (
                    FIRST_NAMES[(i * 3 + 1) % FIRST_NAMES.len()].to_string(),
                    last.to_string(),
                    if i % 2 == 0 { "Spouse" } else { "Parent" },
                ),
                employees: vec![employee_index],
            });
            data.employees.push(EmployeeRec {
                id: id.clone(),
                le,
                number,
                first: first.into(),
                middle: middle.map(str::to_string),
                last: last.into(),
                work_email: Some(format!(
                    "{}.{}{}@{domain}",
                    email_part(first),
                    email_part(last),
                    number
                )),
                person: person_index,
                department,
                location: i % LOCATIONS.len(),
                hire_day: DAY_2008 + (i as i64 * 37) % 5_800,
                termination,
                status,
                full_time: i % 5 != 4,
                flsa: if leads {
                    "SalaryExempt"
                } else {
                    "HourlyNonExempt"
                },
                kind: match i % 29 {
                    6 => "Seasonal",
                    9 => "Temporary",
                    _ => "Regular",
                },
                job_title: if leads {
                    format!("{department_name} Manager")
                } else {
                    format!("{department_name} Associate")
                },
                job_code: format!("P{}", 1 + i % 4),
                manager: match i {
                    0 => None,
                    i if i % 10 == 0 => Some(first_employee),
                    i => Some(first_employee + (i / 10) * 10),
                },
                pay_group: guid(9, le as u64, 0),
            });
            data.employee_index.insert(id, employee_index);
            data.person_index.insert(person_id, person_index);
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paycor::{Config, DEMO_LEGAL_ENTITY};

    #[test]
    fn guids_are_deterministic_and_well_formed() {
        assert_eq!(guid(1, 2, 3), guid(1, 2, 3));
        assert_ne!(guid(1, 2, 3), guid(1, 2, 4));
        assert!(is_guid(&guid(1, 2, 3)));
        assert!(!is_guid("df5566ef-196c-0000-0000-0007d5268Sa2"));
    }

    #[test]
    fn dates_follow_the_civil_calendar() {
        assert_eq!(date(0), "1970-01-01T00:00:00Z");
        assert_eq!(date(DAY_2008), "2008-01-01T00:00:00Z");
        assert_eq!(date(DAY_1960), "1960-01-01T00:00:00Z");
        assert_eq!(date(19_782), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn the_demo_seed_has_hundreds_of_employees() {
        let data = seed(&Config::demo().legal_entities);
        let first = data
            .employees
            .iter()
            .filter(|e| e.le == DEMO_LEGAL_ENTITY)
            .count();
        assert_eq!(first, 480);
        assert_eq!(
            data.departments
                .iter()
                .filter(|d| d.le == DEMO_LEGAL_ENTITY)
                .count(),
            18
        );
        assert_eq!(data.employee_index.len(), 480 + 64 + 25);
        let e = &data.employees[0];
        assert_eq!(
            e.work_email.as_deref(),
            Some("james.smith1001@buckeye-outfitters.example")
        );
    }
}
