//! Seed data: a fictional UK employer's departments, positions and
//! employees, each a pure function of its index.

use super::dates::{civil_from_days, days_from_civil, format_date, format_timestamp};
use serde_json::{Value, json};
use std::collections::HashSet;

/// splitmix64 of an index and a salt: each field of each record is a pure
/// function of its index, so record 17 is the same whatever the count.
pub(super) fn mix(index: usize, salt: u64) -> u64 {
    let mut z = (index as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) fn pick<T: Copy>(items: &[T], index: usize, salt: u64) -> T {
    items[(mix(index, salt) % items.len() as u64) as usize]
}

/// `(code, name, parent code, office)`; the first is the root.
pub(super) const DEPARTMENTS: [(&str, &str, Option<&str>, &str); 12] = [
    ("EXEC", "Executive Office", None, "London"),
    ("FIN", "Finance", Some("EXEC"), "London"),
    ("PAY", "Payroll", Some("FIN"), "Leeds"),
    ("HR", "People & HR", Some("EXEC"), "Manchester"),
    ("IT", "Technology", Some("EXEC"), "Manchester"),
    ("OPS", "Operations", Some("EXEC"), "Birmingham"),
    ("LOG", "Logistics", Some("OPS"), "Birmingham"),
    ("CS", "Customer Services", Some("OPS"), "Glasgow"),
    ("SAL", "Sales", Some("EXEC"), "London"),
    ("MKT", "Marketing", Some("SAL"), "Bristol"),
    ("LEG", "Legal & Compliance", Some("EXEC"), "London"),
    ("FAC", "Facilities", Some("OPS"), "Cardiff"),
];

/// Relative sizes of departments when staff are assigned.
pub(super) const DEPARTMENT_WEIGHTS: [u64; 12] = [1, 4, 3, 4, 8, 10, 12, 12, 8, 4, 2, 3];

/// `(department code, title, grade, active)`; each department's first
/// position is its head.
pub(super) const POSITIONS: [(&str, &str, u8, bool); 50] = [
    ("EXEC", "Chief Executive Officer", 10, true),
    ("EXEC", "Executive Assistant", 4, true),
    ("EXEC", "Chief Operating Officer", 10, true),
    ("FIN", "Finance Director", 9, true),
    ("FIN", "Management Accountant", 6, true),
    ("FIN", "Financial Analyst", 5, true),
    ("FIN", "Accounts Payable Clerk", 3, true),
    ("FIN", "Credit Controller", 3, true),
    ("PAY", "Payroll Manager", 7, true),
    ("PAY", "Payroll Officer", 4, true),
    ("PAY", "Pensions Administrator", 4, true),
    ("HR", "HR Director", 9, true),
    ("HR", "HR Business Partner", 6, true),
    ("HR", "HR Advisor", 4, true),
    ("HR", "Recruitment Coordinator", 3, true),
    ("HR", "Learning & Development Lead", 6, true),
    ("IT", "Head of Technology", 9, true),
    ("IT", "Software Engineer", 6, true),
    ("IT", "Senior Software Engineer", 7, true),
    ("IT", "IT Service Desk Analyst", 3, true),
    ("IT", "Infrastructure Engineer", 6, true),
    ("IT", "Data Analyst", 5, true),
    ("OPS", "Operations Director", 9, true),
    ("OPS", "Operations Manager", 7, true),
    ("OPS", "Shift Supervisor", 4, true),
    ("OPS", "Production Operative", 2, true),
    ("OPS", "Data Entry Clerk", 2, false),
    ("LOG", "Logistics Manager", 7, true),
    ("LOG", "Warehouse Operative", 2, true),
    ("LOG", "HGV Driver", 3, true),
    ("LOG", "Transport Planner", 4, true),
    ("CS", "Customer Services Manager", 7, true),
    ("CS", "Customer Service Advisor", 2, true),
    ("CS", "Complaints Specialist", 3, true),
    ("CS", "Team Leader", 4, true),
    ("SAL", "Sales Director", 9, true),
    ("SAL", "Account Manager", 5, true),
    ("SAL", "Business Development Executive", 5, true),
    ("SAL", "Sales Coordinator", 3, true),
    ("MKT", "Marketing Manager", 7, true),
    ("MKT", "Marketing Executive", 4, true),
    ("MKT", "Content Designer", 5, true),
    ("LEG", "General Counsel", 9, true),
    ("LEG", "Compliance Officer", 6, true),
    ("LEG", "Paralegal", 4, true),
    ("LEG", "Company Secretary", 7, false),
    ("FAC", "Facilities Manager", 6, true),
    ("FAC", "Maintenance Technician", 3, true),
    ("FAC", "Receptionist", 2, true),
    ("FAC", "Cleaner", 2, true),
];

/// `(first name, feminine, preferred name)`.
pub(super) const FIRST_NAMES: [(&str, bool, Option<&str>); 48] = [
    ("Oliver", false, Some("Ollie")),
    ("George", false, None),
    ("Harry", false, None),
    ("Jack", false, None),
    ("Thomas", false, Some("Tom")),
    ("William", false, Some("Will")),
    ("James", false, Some("Jim")),
    ("Mohammed", false, None),
    ("Arjun", false, None),
    ("Daniel", false, Some("Dan")),
    ("Samuel", false, Some("Sam")),
    ("Joseph", false, Some("Joe")),
    ("Ryan", false, None),
    ("Liam", false, None),
    ("Callum", false, None),
    ("Rhys", false, None),
    ("Kwame", false, None),
    ("Christopher", false, Some("Chris")),
    ("Robert", false, Some("Rob")),
    ("Alexander", false, Some("Alex")),
    ("Michael", false, Some("Mike")),
    ("Stephen", false, None),
    ("Tomasz", false, None),
    ("Declan", false, None),
    ("Olivia", true, None),
    ("Amelia", true, Some("Millie")),
    ("Isla", true, None),
    ("Emily", true, None),
    ("Sophie", true, None),
    ("Charlotte", true, Some("Lottie")),
    ("Priya", true, None),
    ("Aisha", true, None),
    ("Grace", true, None),
    ("Chloe", true, None),
    ("Hannah", true, None),
    ("Rebecca", true, Some("Becky")),
    ("Elizabeth", true, Some("Beth")),
    ("Katherine", true, Some("Kate")),
    ("Megan", true, None),
    ("Siobhan", true, None),
    ("Eilidh", true, None),
    ("Niamh", true, None),
    ("Zainab", true, None),
    ("Margaret", true, Some("Maggie")),
    ("Joanne", true, Some("Jo")),
    ("Agnieszka", true, None),
    ("Folake", true, None),
    ("Sarah", true, None),
];

#[rustfmt::skip]
pub(super) const LAST_NAMES: [&str; 64] = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "Khan",
    "Scott",
    "Begum",
    "Singh",
    "Ali",
    "Hussain",
    "Campbell",
    "Macdonald",
    "Stewart",
    "O'Brien",
    "Murphy",
    "Kowalski",
    "Nowak",
    "Okafor",
    "Mensah",
    "Chowdhury",
    "Kaur",
    "Fitzgerald",
    "Price",
    "Griffiths",
    "Llewellyn",
    "Ferguson",
    "Byrne",
    "Ahmed",
];

/// `(office, work phone prefix inside Ofcom's drama range, home postcode districts)`.
pub(super) const OFFICES: [(&str, &str, &[&str]); 8] = [
    (
        "London",
        "+44 20 7946 0",
        &["SE15", "N7", "E17", "SW11", "W5"],
    ),
    ("Manchester", "+44 161 496 0", &["M14", "M20", "SK4", "M21"]),
    ("Leeds", "+44 113 496 0", &["LS6", "LS8", "LS17"]),
    ("Birmingham", "+44 121 496 0", &["B13", "B29", "B17"]),
    ("Bristol", "+44 117 496 0", &["BS6", "BS3", "BS7"]),
    ("Glasgow", "+44 141 496 0", &["G12", "G41", "G31"]),
    ("Cardiff", "+44 29 2018 0", &["CF14", "CF24", "CF5"]),
    ("Belfast", "+44 28 9649 6", &["BT7", "BT9", "BT4"]),
];

pub(super) const STREETS: [&str; 12] = [
    "Station Road",
    "Church Street",
    "Victoria Road",
    "Park Avenue",
    "Mill Lane",
    "Queen's Road",
    "High Street",
    "Albert Terrace",
    "Elm Grove",
    "Kingsway",
    "Chapel Lane",
    "Windsor Close",
];

/// Valid National Insurance prefixes (no D, F, I, Q, U, V; no O second).
pub(super) const NI_PREFIXES: [&str; 12] = [
    "AB", "CE", "GH", "JK", "LM", "NP", "PR", "ST", "WX", "YZ", "HJ", "RW",
];

/// Annual full-time salary band in pounds per grade (2 to 10).
pub(super) fn salary_band(grade: u8) -> (u64, u64) {
    match grade {
        2 => (22_000, 26_000),
        3 => (25_000, 31_000),
        4 => (29_000, 36_000),
        5 => (34_000, 44_000),
        6 => (42_000, 55_000),
        7 => (52_000, 68_000),
        9 => (85_000, 120_000),
        _ => (140_000, 190_000),
    }
}

pub(super) struct Seed {
    pub(super) departments: Vec<Value>,
    pub(super) positions: Vec<Value>,
    pub(super) employees: Vec<Value>,
}

pub(super) fn department_id(index: usize) -> String {
    format!("DEP{:03}", index + 1)
}

pub(super) fn position_id(index: usize) -> String {
    format!("POS{:03}", index + 1)
}

pub(super) fn employee_id(index: usize) -> String {
    (10_001 + index).to_string()
}

pub(super) fn department_index(code: &str) -> usize {
    DEPARTMENTS
        .iter()
        .position(|d| d.0 == code)
        .unwrap_or_default()
}

pub(super) fn seed(count: usize) -> Seed {
    let head_count = DEPARTMENTS.len().min(count);
    let positions: Vec<Value> = POSITIONS
        .iter()
        .enumerate()
        .map(|(i, (dept, title, grade, active))| {
            let code: String = title
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| w[..1].to_ascii_uppercase())
                .collect();
            json!({
                "id": position_id(i),
                "code": format!("{dept}-{code}"),
                "title": title,
                "departmentId": department_id(department_index(dept)),
                "grade": format!("G{grade}"),
                "isActive": active,
            })
        })
        .collect();

    let mut used_emails = HashSet::new();
    let mut employees = Vec::with_capacity(count);
    for i in 0..count {
        // The first twelve employees head the departments, in order.
        let heads = DEPARTMENTS.get(i).filter(|_| i < head_count);
        let (dept, position) = if let Some((code, ..)) = heads {
            let head = POSITIONS.iter().position(|p| p.0 == *code).unwrap_or(0);
            (i, head)
        } else {
            let total: u64 = DEPARTMENT_WEIGHTS.iter().sum();
            let mut roll = mix(i, 1) % total;
            let mut dept = 0;
            for (d, weight) in DEPARTMENT_WEIGHTS.iter().enumerate() {
                if roll < *weight {
                    dept = d;
                    break;
                }
                roll -= weight;
            }
            let code = DEPARTMENTS[dept].0;
            let candidates: Vec<usize> = POSITIONS
                .iter()
                .enumerate()
                .filter(|(_, p)| p.0 == code && p.3)
                .map(|(p, _)| p)
                .skip(1)
                .collect();
            (dept, pick(&candidates, i, 2))
        };
        let head_of = |d: usize| (d < head_count).then(|| employee_id(d));
        let manager = if i < head_count {
            DEPARTMENTS[dept]
                .2
                .and_then(|parent| head_of(department_index(parent)))
        } else {
            head_of(dept)
        };
        employees.push(employee(i, dept, position, manager, &mut used_emails));
    }

    let departments = DEPARTMENTS
        .iter()
        .enumerate()
        .map(|(i, (code, name, parent, office))| {
            json!({
                "id": department_id(i),
                "code": code,
                "name": name,
                "parentId": parent.map(|p| department_id(department_index(p))),
                "costCentre": format!("CC{}", 1000 + 10 * (i + 1)),
                "managerId": (i < head_count).then(|| employee_id(i)),
                "location": office,
                "isActive": true,
            })
        })
        .collect();
    Seed {
        departments,
        positions,
        employees,
    }
}

pub(super) fn employee(
    i: usize,
    dept: usize,
    position: usize,
    manager: Option<String>,
    used_emails: &mut HashSet<String>,
) -> Value {
    let head = i < DEPARTMENTS.len();
    let (first, feminine, nickname) = pick(&FIRST_NAMES, i, 3);
    let last = pick(&LAST_NAMES, i, 4);
    let preferred = nickname.filter(|_| mix(i, 5) % 10 < 4);
    let title = match (feminine, mix(i, 6) % 20) {
        (_, 0) => "Dr",
        (_, 1) => "Mx",
        (true, 2..=8) => "Mrs",
        (true, 9..=10) => "Miss",
        (true, _) => "Ms",
        (false, _) => "Mr",
    };

    let local = |s: &str| -> String {
        s.to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect()
    };
    let base = format!("{}.{}", local(first), local(last));
    let mut email = format!("{base}@hartwell-group.example");
    let mut n = 2;
    while !used_emails.insert(email.clone()) {
        email = format!("{base}{n}@hartwell-group.example");
        n += 1;
    }

    let (_, _, _, dept_office) = DEPARTMENTS[dept];
    // Most people sit in their department's office; some elsewhere.
    let office = if mix(i, 7).is_multiple_of(4) {
        pick(&OFFICES, i, 8)
    } else {
        *OFFICES
            .iter()
            .find(|o| o.0 == dept_office)
            .unwrap_or(&OFFICES[0])
    };
    let (office_name, phone_prefix, districts) = office;

    // Dates: anchored on 2025-09-30, the seed's "today".
    let today = days_from_civil(2025, 9, 30);
    let status_roll = mix(i, 33) % 100;
    let status = if head || status_roll < 83 {
        "Active"
    } else if status_roll < 94 {
        "Leaver"
    } else {
        "Pending"
    };
    let start = match status {
        "Pending" => today + 14 + (mix(i, 10) % 90) as i64,
        _ if head => days_from_civil(2008, 1, 7) + (mix(i, 10) % 3650) as i64,
        _ => {
            let first = days_from_civil(2010, 1, 4);
            first + (mix(i, 10) % (today - 30 - first) as u64) as i64
        }
    };
    let leave = (status == "Leaver").then(|| {
        let span = (today - start).max(2) as u64;
        start + 1 + (mix(i, 11) % (span - 1)) as i64
    });
    let updated_floor = leave
        .unwrap_or(start)
        .clamp(days_from_civil(2024, 1, 1), today);
    let updated_day = updated_floor + (mix(i, 12) % ((today - updated_floor + 1) as u64)) as i64;
    let updated_at = updated_day * 86_400 + 7 * 3600 + (mix(i, 13) % (11 * 3600)) as i64;
    let (start_year, _, _) = civil_from_days(start);
    let birth = days_from_civil(start_year - 19 - (mix(i, 14) % 30) as i64, 1, 1)
        + (mix(i, 15) % 365) as i64;

    let (_, _, grade, _) = POSITIONS[position];
    let zero_hours = grade <= 3 && !head && mix(i, 16).is_multiple_of(10);
    let fixed_term = !zero_hours && !head && mix(i, 16) % 10 == 1;
    let contract = if zero_hours {
        "Zero Hours"
    } else if fixed_term {
        "Fixed Term"
    } else {
        "Permanent"
    };
    let weekly_hours: f64 = if zero_hours {
        0.0
    } else if head || !mix(i, 17).is_multiple_of(5) {
        37.5
    } else {
        pick(&[22.5, 30.0, 18.75], i, 18)
    };
    let pattern = if zero_hours {
        "Variable"
    } else if weekly_hours >= 37.5 {
        "Full Time"
    } else {
        "Part Time"
    };
    let fte = (weekly_hours / 37.5 * 100.0).round() / 100.0;
    let salary = if zero_hours {
        let pence = 1221 + mix(i, 19) % 300;
        json!({"amount": pence as f64 / 100.0, "currency": "GBP", "frequency": "Hourly"})
    } else {
        let (low, high) = salary_band(grade);
        let full_time = low + (mix(i, 19) % (high - low)) / 250 * 250;
        let amount = (full_time as f64 * fte).round();
        json!({"amount": amount, "currency": "GBP", "frequency": "Annual"})
    };

    let ni = format!(
        "{}{:06}{}",
        pick(&NI_PREFIXES, i, 20),
        mix(i, 21) % 1_000_000,
        pick(&['A', 'B', 'C', 'D'], i, 22)
    );
    const POSTCODE_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    let letter = |salt: u64| {
        POSTCODE_LETTERS[(mix(i, salt) % POSTCODE_LETTERS.len() as u64) as usize] as char
    };
    let postcode = format!(
        "{} {}{}{}",
        pick(districts, i, 23),
        1 + mix(i, 24) % 9,
        letter(25),
        letter(26)
    );
    let line2 = (mix(i, 27).is_multiple_of(4)).then(|| format!("Flat {}", 1 + mix(i, 28) % 12));

    json!({
        "id": employee_id(i),
        "employeeNumber": format!("ADV{:05}", i + 1),
        "title": title,
        "firstName": first,
        "lastName": last,
        "preferredName": preferred,
        "displayName": format!("{} {}", preferred.unwrap_or(first), last),
        "workEmail": email,
        "workPhone": format!("{phone_prefix}{:03}", mix(i, 29) % 1000),
        "status": status,
        "startDate": format_date(start),
        "leaveDate": leave.map(format_date),
        "departmentId": department_id(dept),
        "departmentName": DEPARTMENTS[dept].1,
        "positionId": position_id(position),
        "jobTitle": POSITIONS[position].1,
        "managerId": manager,
        "location": office_name,
        "contractType": contract,
        "workingPattern": pattern,
        "weeklyHours": weekly_hours,
        "fte": fte,
        "updatedAt": format_timestamp(updated_at),
        "dateOfBirth": format_date(birth),
        "niNumber": ni,
        "salary": salary,
        "homeAddress": {
            "line1": format!("{} {}", 1 + mix(i, 30) % 180, pick(&STREETS, i, 31)),
            "line2": line2,
            "town": office_name,
            "postcode": postcode,
            "country": "United Kingdom",
        },
        "personalMobile": format!("+44 7700 900{:03}", mix(i, 32) % 1000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advanced_hr::parse_timestamp;

    #[test]
    fn seed_is_deterministic_and_consistent() {
        let a = seed(200);
        let b = seed(200);
        assert_eq!(a.employees, b.employees);
        assert_eq!(a.employees.len(), 200);
        assert_eq!(seed(20).employees[..20], a.employees[..20]);
        let emails: HashSet<_> = a.employees.iter().map(|e| e["workEmail"].clone()).collect();
        assert_eq!(emails.len(), 200, "work emails are unique");
        for e in &a.employees {
            let position = a
                .positions
                .iter()
                .find(|p| p["id"] == e["positionId"])
                .unwrap();
            assert_eq!(position["departmentId"], e["departmentId"]);
            assert_eq!(position["title"], e["jobTitle"]);
            assert!(position["isActive"].as_bool().unwrap());
            if let Some(manager) = e["managerId"].as_str() {
                assert!(a.employees.iter().any(|m| m["id"] == manager));
            }
            let ni = e["niNumber"].as_str().unwrap();
            assert_eq!(ni.len(), 9);
            assert!(parse_timestamp(e["updatedAt"].as_str().unwrap()).is_some());
            if let Some(leave) = e["leaveDate"].as_str() {
                assert!(leave > e["startDate"].as_str().unwrap());
            }
        }
        let statuses: HashSet<_> = a.employees.iter().map(|e| e["status"].clone()).collect();
        assert_eq!(statuses.len(), 3, "all statuses occur");
    }
}
