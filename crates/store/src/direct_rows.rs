//! How the store's row types are read from the direct connection: the counterpart of their
//! `#[derive(sqlx::FromRow)]`, field by field with the same `rename` and `try_from` (see
//! `direct`). A field added to a row type without a line here does not compile.

use crate::direct::{Error, FromDirectRow, Row};
use crate::*;

impl FromDirectRow for AliasDomain {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(AliasDomain {
            id: r.try_get_from::<i64, _>("id")?,
            name: r.try_get("name")?,
            bounce_alias: r.try_get("bounce_alias")?,
            catchall_alias: r.try_get("catchall_alias")?,
            default_from: r.try_get("default_from")?,
            sequence: r.try_get("sequence")?,
            verp: r.try_get("verp")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl FromDirectRow for Company {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Company {
            id: r.try_get_from::<i64, _>("id")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            alias_domain: r.try_get("alias_domain")?,
            alias_domain_id: r.try_get("alias_domain_id")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl FromDirectRow for Model {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Model {
            id: r.try_get_from::<i64, _>("id")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl FromDirectRow for Alias {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Alias {
            id: r.try_get_from::<i64, _>("id")?,
            alias_name: r.try_get("alias_name")?,
            alias_domain: r.try_get("alias_domain")?,
            alias_domain_id: r.try_get("alias_domain_id")?,
            model: r.try_get("model")?,
            defaults: r.try_get_from::<String, _>("defaults")?,
            force_thread_id: r.try_get("force_thread_id")?,
            parent_model: r.try_get("parent_model")?,
            parent_thread_id: r.try_get("parent_thread_id")?,
            contact: r.try_get_from::<String, _>("contact")?,
            incoming_local: r.try_get("incoming_local")?,
            refuse_untrusted: r.try_get("refuse_untrusted")?,
            bounced_content: r.try_get("bounced_content")?,
            status: r.try_get_from::<String, _>("status")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl FromDirectRow for Partner {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Partner {
            id: r.try_get_from::<i64, _>("id")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            email_normalized: r.try_get("email_normalized")?,
            user: r.try_get("is_user")?,
            notification: r.try_get_from::<String, _>("notification")?,
            active: r.try_get("active")?,
            company: r.try_get("company")?,
            message_bounce: r.try_get("message_bounce")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl FromDirectRow for OutgoingServer {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(OutgoingServer {
            id: r.try_get_from::<i64, _>("id")?,
            name: r.try_get("name")?,
            host: r.try_get("host")?,
            port: r.try_get("port")?,
            encryption: r.try_get_from::<String, _>("encryption")?,
            username: r.try_get("username")?,
            password_env: r.try_get("password_env")?,
            has_password: r.try_get("has_password")?,
            from_filter: r.try_get("from_filter")?,
            sequence: r.try_get("sequence")?,
            active: r.try_get("active")?,
            kind: r.try_get_from::<String, _>("kind")?,
            connections_per_domain: r.try_get("connections_per_domain")?,
            limit_per_second: r.try_get("limit_per_second")?,
            limit_per_hour: r.try_get("limit_per_hour")?,
            limit_per_day: r.try_get("limit_per_day")?,
            created_at: r.try_get("created_at")?,
            auth: r.try_get("auth")?,
            oauth: r.try_get_from::<Option<String>, _>("oauth")?,
            oauth_state: r.try_get("oauth_state")?,
            oauth_error: r.try_get("oauth_error")?,
        })
    }
}

impl FromDirectRow for IncomingServer {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(IncomingServer {
            id: r.try_get_from::<i64, _>("id")?,
            name: r.try_get("name")?,
            protocol: r.try_get_from::<String, _>("protocol")?,
            host: r.try_get("host")?,
            port: r.try_get("port")?,
            encryption: r.try_get_from::<String, _>("encryption")?,
            username: r.try_get("username")?,
            password_env: r.try_get("password_env")?,
            has_password: r.try_get("has_password")?,
            model: r.try_get("model")?,
            interval_seconds: r.try_get("interval_seconds")?,
            priority: r.try_get("priority")?,
            keep_original: r.try_get("keep_original")?,
            attachments: r.try_get("attachments")?,
            active: r.try_get("active")?,
            last_success_at: r.try_get("last_success_at")?,
            last_error: r.try_get("last_error")?,
            error_count: r.try_get("error_count")?,
            created_at: r.try_get("created_at")?,
            auth: r.try_get_from::<String, _>("auth")?,
            max_messages: r.try_get("max_messages")?,
            last_poll_at: r.try_get("last_poll_at")?,
            last_error_at: r.try_get("last_error_at")?,
            first_error_at: r.try_get("first_error_at")?,
            disabled_at: r.try_get("disabled_at")?,
            failing_messages: r.try_get("failing_messages")?,
            oauth: r.try_get_from::<Option<String>, _>("oauth")?,
            oauth_state: r.try_get("oauth_state")?,
            oauth_error: r.try_get("oauth_error")?,
        })
    }
}

impl FromDirectRow for OAuthGrant {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(OAuthGrant {
            state: r.try_get("state")?,
            refresh_token: r.try_get("refresh_token")?,
            access_token: r.try_get("access_token")?,
            expires_at: r.try_get("expires_at")?,
            error: r.try_get("error")?,
            lease_owner: r.try_get("lease_owner")?,
            lease_until: r.try_get("lease_until")?,
        })
    }
}

impl FromDirectRow for Webhook {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Webhook {
            id: r.try_get_from::<i64, _>("id")?,
            name: r.try_get("name")?,
            url: r.try_get("url")?,
            description: r.try_get("description")?,
            events: r.try_get_from::<String, _>("events")?,
            has_secret: r.try_get("has_secret")?,
            active: r.try_get("active")?,
            created_at: r.try_get("created_at")?,
            secret: None,
        })
    }
}

impl FromDirectRow for Param {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Param {
            key: r.try_get("key")?,
            value: r.try_get("value")?,
        })
    }
}

impl FromDirectRow for FetchTarget {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(FetchTarget {
            id: r.try_get_from::<i64, _>("id")?,
            name: r.try_get("name")?,
            protocol: r.try_get_from::<String, _>("protocol")?,
            host: r.try_get("host")?,
            port: r.try_get("port")?,
            encryption: r.try_get_from::<String, _>("encryption")?,
            auth: r.try_get_from::<String, _>("auth")?,
            username: r.try_get("username")?,
            password: r.try_get_from::<Option<String>, _>("password")?,
            password_env: r.try_get("password_env")?,
            model: r.try_get("model")?,
            interval_seconds: r.try_get("interval_seconds")?,
            priority: r.try_get("priority")?,
            keep_original: r.try_get("keep_original")?,
            attachments: r.try_get("attachments")?,
            max_messages: r.try_get("max_messages")?,
            active: r.try_get("active")?,
            disabled_at: r.try_get("disabled_at")?,
        })
    }
}

impl FromDirectRow for ThreadMessageRow {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(ThreadMessageRow {
            id: r.try_get("id")?,
            record_id: r.try_get("record_id")?,
            model: r.try_get("model")?,
            subtype: r.try_get("subtype")?,
            message_type: r.try_get_from::<String, _>("message_type")?,
            author_partner_id: r.try_get("author_partner_id")?,
        })
    }
}

impl FromDirectRow for AliasRouteRow {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(AliasRouteRow {
            id: r.try_get("id")?,
            alias_name: r.try_get("alias_name")?,
            domain: r.try_get("domain")?,
            model: r.try_get("model")?,
            force_thread_id: r.try_get("force_thread_id")?,
            parent_thread_id: r.try_get("parent_thread_id")?,
            contact: r.try_get("contact")?,
            incoming_local: r.try_get("incoming_local")?,
            refuse_untrusted: r.try_get("refuse_untrusted")?,
            defaults: r.try_get("defaults")?,
            status: r.try_get("status")?,
        })
    }
}

impl FromDirectRow for FollowerRow {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(FollowerRow {
            partner_id: r.try_get("partner_id")?,
            subtypes: r.try_get("subtypes")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            email_normalized: r.try_get("email_normalized")?,
            is_user: r.try_get("is_user")?,
            notification: r.try_get("notification")?,
            active: r.try_get("active")?,
        })
    }
}

impl FromDirectRow for OutboxMail {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(OutboxMail {
            id: r.try_get("id")?,
            stream: r.try_get_from::<String, _>("stream")?,
            kind: r.try_get("kind")?,
            message_id: r.try_get("message_id")?,
            record_id: r.try_get("record_id")?,
            rfc_message_id: r.try_get("rfc_message_id")?,
            email_from: r.try_get("email_from")?,
            email_to: r.try_get("email_to")?,
            email_cc: r.try_get("email_cc")?,
            reply_to: r.try_get("reply_to")?,
            return_path: r.try_get("return_path")?,
            subject: r.try_get("subject")?,
            body_html: r.try_get("body_html")?,
            body_text: r.try_get("body_text")?,
            headers: r.try_get("headers")?,
            server_id: r.try_get("server_id")?,
            attempts: r.try_get("attempts")?,
            age_from: r.try_get("age_from")?,
        })
    }
}

impl FromDirectRow for DeliveryServer {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(DeliveryServer {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            host: r.try_get("host")?,
            port: r.try_get("port")?,
            encryption: r.try_get("encryption")?,
            username: r.try_get("username")?,
            password: r.try_get_from::<Option<String>, _>("password")?,
            password_env: r.try_get("password_env")?,
            from_filter: r.try_get("from_filter")?,
            sequence: r.try_get("sequence")?,
            active: r.try_get("active")?,
            auth: r.try_get("auth")?,
            kind: r.try_get_from::<String, _>("kind")?,
            connections_per_domain: r.try_get("connections_per_domain")?,
            limit_per_second: r.try_get("limit_per_second")?,
            limit_per_hour: r.try_get("limit_per_hour")?,
            limit_per_day: r.try_get("limit_per_day")?,
        })
    }
}

impl FromDirectRow for MailRecipient {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(MailRecipient {
            mail_id: r.try_get("mail_id")?,
            address: r.try_get("address")?,
            partner_id: r.try_get("partner_id")?,
            status: r.try_get_from::<String, _>("status")?,
            reply: r.try_get("reply")?,
        })
    }
}

impl FromDirectRow for Record {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Record {
            id: r.try_get("id")?,
            model: r.try_get("model")?,
            name: r.try_get("name")?,
            email_from: r.try_get("email_from")?,
            email_cc: r.try_get("email_cc")?,
            company_id: r.try_get("company_id")?,
            values: r.try_get_from::<String, _>("values_json")?,
            message_bounce: r.try_get("message_bounce")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl FromDirectRow for AttachmentInfo {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(AttachmentInfo {
            id: r.try_get("id")?,
            message_id: r.try_get("message_id")?,
            filename: r.try_get("filename")?,
            mimetype: r.try_get("mimetype")?,
            size: r.try_get("size")?,
            content_id: r.try_get("content_id")?,
        })
    }
}

impl FromDirectRow for Notification {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Notification {
            message_id: r.try_get("message_id")?,
            partner_id: r.try_get("partner_id")?,
            notification_type: r.try_get_from::<String, _>("notification_type")?,
            status: r.try_get_from::<String, _>("status")?,
            failure_type: r.try_get("failure_type")?,
            failure_reason: r.try_get("failure_reason")?,
            mail_id: r.try_get("mail_id")?,
            bounce_reason: r.try_get("bounce_reason")?,
            bounce_hard: r.try_get("bounce_hard")?,
        })
    }
}

impl FromDirectRow for Message {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Message {
            id: r.try_get("id")?,
            message_id: r.try_get("message_id")?,
            parent_id: r.try_get("parent_id")?,
            record_id: r.try_get("record_id")?,
            subject: r.try_get("subject")?,
            body_html: r.try_get("body_html")?,
            email_from: r.try_get("email_from")?,
            author_partner_id: r.try_get("author_partner_id")?,
            subtype: r.try_get("subtype")?,
            message_type: r.try_get_from::<String, _>("message_type")?,
            date: r.try_get("date")?,
            incoming_email_to: r.try_get("incoming_email_to")?,
            incoming_email_cc: r.try_get("incoming_email_cc")?,
            partner_ids: Default::default(),
            attachments: Default::default(),
            notifications: Default::default(),
        })
    }
}

impl FromDirectRow for Follower {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Follower {
            partner_id: r.try_get("partner_id")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            subtypes: r.try_get_from::<String, _>("subtypes")?,
        })
    }
}

impl FromDirectRow for Mail {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Mail {
            id: r.try_get("id")?,
            state: r.try_get_from::<String, _>("state")?,
            kind: r.try_get("kind")?,
            stream: r.try_get_from::<String, _>("stream")?,
            from: r.try_get("email_from")?,
            to: r.try_get_from::<String, _>("email_to")?,
            cc: r.try_get_from::<String, _>("email_cc")?,
            reply_to: r.try_get("reply_to")?,
            return_path: r.try_get("return_path")?,
            subject: r.try_get("subject")?,
            message_id: r.try_get("rfc_message_id")?,
            thread_message_id: r.try_get("message_id")?,
            record_id: r.try_get("record_id")?,
            server: r.try_get("server_id")?,
            failure_type: r.try_get("failure_type")?,
            failure_reason: r.try_get("failure_reason")?,
            scheduled_date: r.try_get("scheduled_date")?,
            headers: r.try_get_from::<String, _>("headers")?,
            body_html: r.try_get("body_html")?,
            created_at: r.try_get("created_at")?,
            next_try_at: r.try_get("next_try_at")?,
            attempts: r.try_get("attempts")?,
            waiting_reason: r.try_get("waiting_reason")?,
        })
    }
}

impl FromDirectRow for RawMessageInfo {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(RawMessageInfo {
            id: r.try_get("id")?,
            received_at: r.try_get("received_at")?,
            source: r.try_get("source")?,
            envelope_sender: r.try_get("envelope_sender")?,
            header_message_id: r.try_get("header_message_id")?,
            size: r.try_get("size")?,
            status: r.try_get_from::<String, _>("status")?,
            error: r.try_get("error")?,
        })
    }
}

impl FromDirectRow for DueDelivery {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(DueDelivery {
            id: r.try_get("id")?,
            webhook_id: r.try_get("webhook_id")?,
            url: r.try_get("url")?,
            secret: r.try_get("secret")?,
            previous_secret: r.try_get("previous_secret")?,
            event_key: r.try_get("event_key")?,
            event_type: r.try_get("event_type")?,
            subject_id: r.try_get("subject_id")?,
            data: r.try_get("data")?,
            payload: r.try_get("payload")?,
            created_at: r.try_get("created_at")?,
            attempts: r.try_get("attempts")?,
        })
    }
}

impl FromDirectRow for WebhookDelivery {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(WebhookDelivery {
            id: r.try_get("id")?,
            webhook_id: r.try_get("webhook_id")?,
            event_id: r.try_get("event_id")?,
            event_type: r.try_get("event_type")?,
            state: r.try_get_from::<String, _>("state")?,
            attempts: r.try_get("attempts")?,
            next_try_at: r.try_get("next_try_at")?,
            last_status: r.try_get("last_status")?,
            last_error: r.try_get("last_error")?,
            created_at: r.try_get("created_at")?,
            delivered_at: r.try_get("delivered_at")?,
            tries: vec![],
        })
    }
}

impl FromDirectRow for WebhookAttempt {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(WebhookAttempt {
            attempted_at: r.try_get("attempted_at")?,
            duration_ms: r.try_get("duration_ms")?,
            status: r.try_get("status")?,
            response: r.try_get("response")?,
            error: r.try_get("error")?,
        })
    }
}

impl FromDirectRow for Suppression {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(Suppression {
            id: r.try_get("id")?,
            address: r.try_get("address")?,
            scope: r.try_get_from::<String, _>("scope")?,
            cause: r.try_get_from::<String, _>("cause")?,
            detail: r.try_get("detail")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

impl FromDirectRow for AdminUser {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(AdminUser {
            id: r.try_get("id")?,
            login: r.try_get("login")?,
            password_hash: r.try_get("password_hash")?,
        })
    }
}

impl FromDirectRow for AdminSession {
    fn from_row(r: &Row) -> Result<Self, Error> {
        Ok(AdminSession {
            user_id: r.try_get("user_id")?,
            login: r.try_get("login")?,
            csrf: r.try_get("csrf")?,
            expires_at: r.try_get("expires_at")?,
        })
    }
}
