//! JSON Schemas of the connection fields and of each card's input and output.
//! Records keep SmartHR's own (snake_case) field names: `emp_code`,
//! `emp_status`, `departments[]`, `employment_type`, `custom_fields` ...

use cardhost_sdk::{Value, json, serde_json};

/// A SmartHR tenant id: the subdomain of `{tenant_id}.smarthr.jp`, one DNS
/// label of lowercase letters, digits and inner hyphens. Anything else (a dot,
/// a slash, `@`, a port) could move requests to another host or path.
pub const TENANT_ID_PATTERN: &str = "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$";

/// A date as SmartHR writes it.
const DATE_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

/// An id SmartHR issued (a UUID for crews): no `/`, `?`, `#` or spaces.
const ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,100}$";

/// Employment statuses of a crew.
pub const EMP_STATUSES: [&str; 3] = ["employed", "absent", "retired"];

/// Preset employment types (`emp_type`, `employment_type.preset_type`).
pub const EMP_TYPES: [&str; 7] = [
    "board_member",
    "full_timer",
    "contract_worker",
    "permatemp",
    "part_timer",
    "outsourcing_contractor",
    "etc",
];

/// Non-secret connection fields.
pub fn connection() -> Value {
    json!({
        "type": "object",
        "required": ["account_type", "tenant_id"],
        "additionalProperties": false,
        "properties": {
            "account_type": {
                "type": "string",
                "title": "Account type",
                "enum": ["production", "sandbox"],
                "default": "production",
                "description": "`production` for a tenant on smarthr.jp, `sandbox` for a development tenant on daruma.space."
            },
            "tenant_id": {
                "type": "string",
                "title": "Tenant ID",
                "minLength": 1,
                "maxLength": 63,
                "pattern": TENANT_ID_PATTERN,
                "description": "The subdomain of your SmartHR address: `acme` for https://acme.smarthr.jp \
                    (or https://acme.daruma.space for a sandbox). Lowercase letters, digits and hyphens only.",
                "examples": ["acme"]
            }
        }
    })
}

fn text(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn nullable(kind: &str, description: &str) -> Value {
    json!({"type": [kind, "null"], "description": description})
}

/// A department as `/departments` lists it (nested parents and children are
/// shallow).
fn department() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": text("SmartHR's id of the department."),
            "name": text("Name."),
            "code": nullable("string", "Department code, if set."),
            "position": nullable("integer", "Sort position among its siblings."),
            "parent": {
                "type": ["object", "null"],
                "description": "The parent department (id, name, code, position); null at the top.",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}}
            },
            "children": {
                "type": "array",
                "description": "Direct child departments (id, name, code, position).",
                "items": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}
            },
            "created_at": nullable("string", "When it was created."),
            "updated_at": nullable("string", "When it last changed.")
        }
    })
}

fn employment_type() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": text("SmartHR's id of the employment type."),
            "name": text("Name, e.g. 正社員 (full-time employee)."),
            "preset_type": {
                "type": ["string", "null"],
                "description": format!("The preset it derives from: {}; null for a custom type.", EMP_TYPES.join(", "))
            },
            "created_at": nullable("string", "When it was created."),
            "updated_at": nullable("string", "When it last changed.")
        }
    })
}

fn job_title() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": text("SmartHR's id of the job title."),
            "name": text("Name, e.g. 部長 (general manager)."),
            "rank": nullable("integer", "Rank, 1 to 99999 (lower is senior)."),
            "created_at": nullable("string", "When it was created."),
            "updated_at": nullable("string", "When it last changed.")
        }
    })
}

fn address() -> Value {
    json!({
        "type": ["object", "null"],
        "description": "An address: zip_code, pref, city, street, building, literal_yomi.",
        "properties": {
            "zip_code": {"type": ["string", "null"]},
            "pref": {"type": ["string", "null"]},
            "city": {"type": ["string", "null"]},
            "street": {"type": ["string", "null"]},
            "building": {"type": ["string", "null"]}
        }
    })
}

fn biz_establishment() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": text("SmartHR's id of the business establishment."),
            "name": text("Name used inside SmartHR."),
            "soc_ins_name": nullable("string", "Name registered for social insurance."),
            "soc_ins_owner_id": nullable("string", "Crew id of the social insurance representative."),
            "soc_ins_address": address(),
            "soc_ins_tel_number": nullable("string", "Phone number for social insurance."),
            "lab_ins_name": nullable("string", "Name registered for labour insurance."),
            "lab_ins_owner_id": nullable("string", "Crew id of the labour insurance representative."),
            "lab_ins_address": address(),
            "lab_ins_tel_number": nullable("string", "Phone number for labour insurance."),
            "hel_ins_type": nullable("string", "Health insurance kind: kyokai_kenpo, its_kenpo, tj_kenpo or general_kenpo."),
            "hel_ins_name": nullable("string", "Name of the health insurance association."),
            "jurisdiction_tax": nullable("string", "Tax office in charge."),
            "salary_payer_address": address(),
            "created_at": nullable("string", "When it was created."),
            "updated_at": nullable("string", "When it last changed.")
        }
    })
}

fn custom_field_group() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": text("SmartHR's id of the custom field group."),
            "name": text("Name."),
            "position": nullable("integer", "Sort position."),
            "access_type": nullable("string", "Who may see it: read_and_update, read_and_update_values or hidden."),
            "templates": {
                "type": "array",
                "description": "The group's custom fields (with `embed_templates`).",
                "items": {"type": "object"}
            },
            "created_at": nullable("string", "When it was created."),
            "updated_at": nullable("string", "When it last changed.")
        }
    })
}

fn custom_field() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name", "type"],
        "properties": {
            "id": text("SmartHR's id of the custom field (its template id)."),
            "name": text("Label."),
            "type": {"type": "string", "description": "Input type: string, text, decimal, date, enum or file."},
            "elements": {
                "type": "array",
                "description": "For `enum` fields, the choices: id, name, physical_name, position.",
                "items": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}
            },
            "group_id": nullable("string", "Id of the group it belongs to (without `embed_group`)."),
            "group": {"type": ["object", "null"], "description": "The group it belongs to (with `embed_group`)."},
            "hint": nullable("string", "Input hint."),
            "scale": nullable("integer", "Decimal places of a `decimal` field."),
            "separated_by_commas": nullable("boolean", "Whether a `decimal` field shows thousands separators."),
            "position": nullable("integer", "Sort position in its group."),
            "created_at": nullable("string", "When it was created."),
            "updated_at": nullable("string", "When it last changed.")
        }
    })
}

/// A crew (employee) as SmartHR returns it. With `fields` only the fields
/// asked for are present, so only `id` is required.
pub fn crew() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": text("SmartHR's id of the crew (a UUID)."),
            "user_id": nullable("string", "Id of the SmartHR user account linked to the crew, if any."),
            "biz_establishment_id": nullable("string", "Id of the crew's business establishment."),
            "emp_code": nullable("string", "Employee code (社員番号)."),
            "emp_type": nullable("string", "Deprecated: the preset of the crew's employment type."),
            "employment_type": {
                "type": ["object", "null"],
                "description": "The crew's employment type: id, name, preset_type.",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "preset_type": {"type": ["string", "null"]}
                }
            },
            "emp_status": {"type": ["string", "null"], "description": "employed, absent (on leave) or retired."},
            "last_name": nullable("string", "Family name (legal)."),
            "first_name": nullable("string", "Given name (legal)."),
            "last_name_yomi": nullable("string", "Family name in katakana."),
            "first_name_yomi": nullable("string", "Given name in katakana."),
            "business_last_name": nullable("string", "Family name used at work, if different."),
            "business_first_name": nullable("string", "Given name used at work, if different."),
            "business_last_name_yomi": nullable("string", "Business family name in katakana."),
            "business_first_name_yomi": nullable("string", "Business given name in katakana."),
            "birth_at": nullable("string", "Date of birth, YYYY-MM-DD."),
            "gender": nullable("string", "Gender as registered: male or female."),
            "email": nullable("string", "Email address."),
            "tel_number": nullable("string", "Phone number."),
            "department": nullable("string", "Deprecated: name of the first department; use `departments`."),
            "departments": {
                "type": "array",
                "description": "The crew's departments: id, name, code, position.",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "code": {"type": ["string", "null"]}}
                }
            },
            "position": nullable("string", "Job title (役職) as text."),
            "occupation": nullable("string", "Occupation / duties (業務内容)."),
            "entered_at": nullable("string", "Date the crew joined, YYYY-MM-DD."),
            "resigned_at": nullable("string", "Date the crew left, YYYY-MM-DD."),
            "resigned_reason": nullable("string", "Why the crew left."),
            "custom_fields": {
                "type": "array",
                "description": "Custom field values: `value` and its `template` (id, name, type).",
                "items": {
                    "type": "object",
                    "properties": {
                        "value": {"description": "The value, in the form the template's type takes."},
                        "template": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"}}}
                    }
                }
            },
            "created_at": nullable("string", "When the crew was created."),
            "updated_at": nullable("string", "When the crew last changed.")
        }
    })
}

/// A SmartHR user (a login account), with its crew when embedded.
fn user() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": text("SmartHR's id of the user."),
            "email": nullable("string", "Login email address."),
            "admin": nullable("boolean", "Whether the user is an administrator."),
            "role": {
                "type": ["object", "null"],
                "description": "The user's role: id, name, description, crews_scope, preset_type.",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}}
            },
            "agreement_for_electronic_delivery": nullable("boolean", "Whether the user agreed to electronic delivery of payslips."),
            "crew_id": nullable("string", "Id of the linked crew (without `embed_crew`)."),
            "crew": {
                "anyOf": [crew(), {"type": "null"}],
                "description": "The linked crew (with `embed_crew`); null when the user has none."
            },
            "invitation_created_at": nullable("string", "When the user was invited."),
            "invitation_opened_at": nullable("string", "When the invitation was opened."),
            "invitation_accepted_at": nullable("string", "When the invitation was accepted."),
            "invitation_answered_at": nullable("string", "When the invitation was answered."),
            "has_password": nullable("boolean", "Whether the user has set a password."),
            "created_at": nullable("string", "When the user was created."),
            "updated_at": nullable("string", "When the user last changed.")
        }
    })
}

/// `page`, `per_page` and `limit`, shared by every list card.
fn paging_properties(what: &str) -> Value {
    json!({
        "page": {
            "type": "integer", "minimum": 1,
            "description": format!("Return only this page of {what} (from 1). Leave it out to return every page up to `limit`.")
        },
        "per_page": {
            "type": "integer", "minimum": 1, "maximum": 100, "default": 100,
            "description": format!("{} per request to SmartHR (at most 100).", capitalise(what))
        },
        "limit": {
            "type": "integer", "minimum": 1, "maximum": 100000, "default": 1000,
            "description": format!("Without `page`: stop after this many {what}.")
        }
    })
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A list card's input: `extra` properties plus paging. `page` and `limit`
/// exclude each other, which the schema itself refuses.
fn list_input(what: &str, extra: Value) -> Value {
    let mut properties = paging_properties(what);
    if let (Some(all), Value::Object(extra)) = (properties.as_object_mut(), extra) {
        all.extend(extra);
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "dependentSchemas": {
            "page": {
                "properties": {
                    "limit": {"not": {}, "description": "`limit` cannot be combined with `page`."}
                }
            }
        }
    })
}

fn list_output(key: &str, item: Value, what: &str) -> Value {
    json!({
        "type": "object",
        "required": [key, "total_count", "has_more", "page"],
        "properties": {
            key: {"type": "array", "items": item, "description": format!("The {what}.")},
            "total_count": {"type": ["integer", "null"], "minimum": 0, "description": format!("How many {what} match, as SmartHR counts them (x-total-count).")},
            "has_more": {"type": "boolean", "description": format!("Whether more {what} match than were returned.")},
            "page": {"type": ["integer", "null"], "description": "The page returned, when `page` was given."}
        }
    })
}

/// List Business Establishments input.
pub fn list_biz_establishments_input() -> Value {
    list_input("business establishments", json!({}))
}

/// List Business Establishments output.
pub fn list_biz_establishments_output() -> Value {
    list_output(
        "biz_establishments",
        biz_establishment(),
        "business establishments",
    )
}

/// List Custom Field Groups input.
pub fn list_custom_field_groups_input() -> Value {
    list_input(
        "custom field groups",
        json!({
            "embed_templates": {"type": "boolean", "default": false, "description": "Include each group's custom fields (`embed=templates`)."}
        }),
    )
}

/// List Custom Field Groups output.
pub fn list_custom_field_groups_output() -> Value {
    list_output(
        "custom_field_groups",
        custom_field_group(),
        "custom field groups",
    )
}

/// List Custom Fields input.
pub fn list_custom_fields_input() -> Value {
    list_input(
        "custom fields",
        json!({
            "embed_group": {"type": "boolean", "default": false, "description": "Include each field's group (`embed=group`) instead of only its `group_id`."},
            "group_id": {"type": "string", "pattern": ID_PATTERN, "description": "Only fields of this group (an id from List Custom Field Groups). SmartHR has no such filter: the connector reads the fields and keeps this group's."}
        }),
    )
}

/// List Custom Fields output.
pub fn list_custom_fields_output() -> Value {
    list_output("custom_fields", custom_field(), "custom fields")
}

/// List Departments input.
pub fn list_departments_input() -> Value {
    list_input("departments", json!({}))
}

/// List Departments output.
pub fn list_departments_output() -> Value {
    list_output("departments", department(), "departments")
}

/// List Employment Types input.
pub fn list_employment_types_input() -> Value {
    list_input("employment types", json!({}))
}

/// List Employment Types output.
pub fn list_employment_types_output() -> Value {
    list_output("employment_types", employment_type(), "employment types")
}

/// List Job Titles input.
pub fn list_job_titles_input() -> Value {
    list_input("job titles", json!({}))
}

/// List Job Titles output.
pub fn list_job_titles_output() -> Value {
    list_output("job_titles", job_title(), "job titles")
}

/// List Users input.
pub fn list_users_input() -> Value {
    list_input(
        "users",
        json!({
            "embed_crew": {"type": "boolean", "default": true, "description": "Include each user's crew record (`embed=crew`) instead of only its `crew_id`."}
        }),
    )
}

/// List Users output.
pub fn list_users_output() -> Value {
    list_output("users", user(), "users")
}

fn crew_id_property() -> Value {
    json!({"type": "string", "pattern": ID_PATTERN, "description": "SmartHR's id of the crew (a UUID, from Search Employees)."})
}

/// Read Employee input: a crew id or an employee code, not both.
pub fn read_employee_input() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "id": crew_id_property(),
            "emp_code": {"type": "string", "minLength": 1, "maxLength": 255, "description": "The employee code (社員番号) instead of the id: exactly one crew must have it."}
        },
        "oneOf": [
            {"required": ["id"], "not": {"required": ["emp_code"]}},
            {"required": ["emp_code"], "not": {"required": ["id"]}}
        ]
    })
}

/// Search Employees input: every documented `/crews` filter, and paging.
pub fn search_employees_input() -> Value {
    list_input(
        "employees",
        json!({
            "emp_code": {"type": "string", "minLength": 1, "description": "Only the crew with this employee code."},
            "emp_type": {"type": "string", "enum": EMP_TYPES, "description": "Only crews whose employment type derives from this preset."},
            "emp_status": {"type": "string", "enum": EMP_STATUSES, "description": "Only crews with this status: employed, absent (on leave) or retired."},
            "gender": {"type": "string", "enum": ["male", "female"], "description": "Only crews of this registered gender."},
            "sort": {
                "type": "string",
                "pattern": "^-?[a-z][a-z0-9_]*(,-?[a-z][a-z0-9_]*)*$",
                "description": "Sort fields, comma-separated, `-` for descending, e.g. `emp_status,-updated_at`."
            },
            "entered_at_from": {"type": "string", "format": "date", "pattern": DATE_PATTERN, "description": "Only crews who joined on or after this date (YYYY-MM-DD)."},
            "entered_at_to": {"type": "string", "format": "date", "pattern": DATE_PATTERN, "description": "Only crews who joined on or before this date (YYYY-MM-DD)."},
            "q": {"type": "string", "minLength": 1, "maxLength": 255, "description": "Free text SmartHR matches against names (also in katakana and business names), employee code and email."},
            "fields": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": true,
                "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "description": "Only return these fields of each crew (`id` is always added)."
            }
        }),
    )
}

/// Search Employees output.
pub fn search_employees_output() -> Value {
    list_output("employees", crew(), "employees")
}

/// The writable crew fields. `nullable` lets Update Employee clear them.
fn crew_write_properties(nullable: bool) -> serde_json::Map<String, Value> {
    let string = |description: &str, max: u32| -> Value {
        let kind = if nullable {
            json!(["string", "null"])
        } else {
            json!("string")
        };
        json!({"type": kind, "maxLength": max, "description": description})
    };
    let date = |description: &str| -> Value {
        if nullable {
            json!({"anyOf": [{"type": "string", "format": "date", "pattern": DATE_PATTERN}, {"type": "null"}], "description": description})
        } else {
            json!({"type": "string", "format": "date", "pattern": DATE_PATTERN, "description": description})
        }
    };
    let choice = |values: &[&str], description: &str| -> Value {
        if nullable {
            json!({"anyOf": [{"type": "string", "enum": values}, {"type": "null"}], "description": description})
        } else {
            json!({"type": "string", "enum": values, "description": description})
        }
    };
    let id = |description: &str| -> Value {
        if nullable {
            json!({"anyOf": [{"type": "string", "pattern": ID_PATTERN}, {"type": "null"}], "description": description})
        } else {
            json!({"type": "string", "pattern": ID_PATTERN, "description": description})
        }
    };
    let mut p = serde_json::Map::new();
    let mut put = |name: &str, schema: Value| {
        p.insert(name.to_string(), schema);
    };
    put(
        "emp_code",
        string("Employee code (社員番号), unique in the tenant.", 255),
    );
    put(
        "emp_status",
        choice(&EMP_STATUSES, "employed, absent (on leave) or retired."),
    );
    put(
        "last_name",
        json!({"type": "string", "minLength": 1, "maxLength": 255, "description": "Family name (legal)."}),
    );
    put(
        "first_name",
        json!({"type": "string", "minLength": 1, "maxLength": 255, "description": "Given name (legal)."}),
    );
    put("last_name_yomi", string("Family name in katakana.", 255));
    put("first_name_yomi", string("Given name in katakana.", 255));
    put(
        "business_last_name",
        string("Family name used at work.", 255),
    );
    put(
        "business_first_name",
        string("Given name used at work.", 255),
    );
    put(
        "business_last_name_yomi",
        string("Business family name in katakana.", 255),
    );
    put(
        "business_first_name_yomi",
        string("Business given name in katakana.", 255),
    );
    put("birth_at", date("Date of birth, YYYY-MM-DD."));
    put(
        "gender",
        choice(&["male", "female"], "Gender as registered: male or female."),
    );
    put(
        "email",
        if nullable {
            json!({"anyOf": [{"type": "string", "format": "email", "maxLength": 254}, {"type": "null"}], "description": "Email address."})
        } else {
            json!({"type": "string", "format": "email", "maxLength": 254, "description": "Email address."})
        },
    );
    put(
        "tel_number",
        if nullable {
            json!({"anyOf": [{"type": "string", "pattern": "^[0-9+() -]{1,30}$"}, {"type": "null"}], "description": "Phone number: digits, spaces, +, -, ( and )."})
        } else {
            json!({"type": "string", "pattern": "^[0-9+() -]{1,30}$", "description": "Phone number: digits, spaces, +, -, ( and )."})
        },
    );
    put("entered_at", date("Date the crew joined, YYYY-MM-DD."));
    put("resigned_at", date("Date the crew left, YYYY-MM-DD."));
    put("resigned_reason", string("Why the crew left.", 1000));
    put("position", string("Job title (役職) as text.", 255));
    put(
        "occupation",
        string("Occupation / duties (業務内容).", 1000),
    );
    put(
        "employment_type_id",
        id("Id of the employment type (from List Employment Types)."),
    );
    put(
        "biz_establishment_id",
        id("Id of the business establishment (from List Business Establishments)."),
    );
    put(
        "department_ids",
        json!({
            "type": "array",
            "uniqueItems": true,
            "maxItems": 50,
            "items": {"type": "string", "pattern": ID_PATTERN},
            "description": "Ids of the crew's departments (from List Departments); replaces the current ones."
        }),
    );
    put(
        "custom_fields",
        json!({
            "type": "array",
            "maxItems": 200,
            "items": {
                "type": "object",
                "required": ["template_id", "value"],
                "additionalProperties": false,
                "properties": {
                    "template_id": {"type": "string", "pattern": ID_PATTERN, "description": "Id of the custom field (from List Custom Fields)."},
                    "value": {
                        "type": ["string", "number", "null"],
                        "description": "The value: text for string/text fields, a number or numeric text for decimal, YYYY-MM-DD for date, a choice's id for enum; null clears it."
                    }
                }
            },
            "description": "Custom field values to set; fields not listed keep their values."
        }),
    );
    p
}

/// Create Employee input.
pub fn create_employee_input() -> Value {
    json!({
        "type": "object",
        "required": ["last_name", "first_name"],
        "additionalProperties": false,
        "properties": crew_write_properties(false)
    })
}

/// Update Employee input: the crew id and at least one field to change.
pub fn update_employee_input() -> Value {
    let mut properties = crew_write_properties(true);
    properties.insert("id".into(), crew_id_property());
    json!({
        "type": "object",
        "required": ["id"],
        "minProperties": 2,
        "additionalProperties": false,
        "properties": properties
    })
}

/// Delete Employee input.
pub fn delete_employee_input() -> Value {
    json!({
        "type": "object",
        "required": ["id"],
        "additionalProperties": false,
        "properties": {"id": crew_id_property()}
    })
}

/// Delete Employee output.
pub fn delete_employee_output() -> Value {
    json!({
        "type": "object",
        "required": ["id", "deleted"],
        "properties": {
            "id": text("The id of the deleted crew."),
            "deleted": {"type": "boolean", "const": true, "description": "Always true: SmartHR deleted the crew."}
        }
    })
}
