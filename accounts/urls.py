from django.urls import include, path

from accounts import views, views_api_keys
from accounts.webhooks import urls as webhook_urls

org_patterns = [
    path("", views.org_dashboard, name="org_dashboard"),
    path("settings/", views.org_settings, name="org_settings"),
    path("members/", views.org_members, name="org_members"),
    path("members/<int:member_id>/role/", views.member_role, name="member_role"),
    path("members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path("leave/", views.org_leave, name="org_leave"),
    path("invitations/", views.invitation_create, name="invitation_create"),
    path("invitations/<int:invitation_id>/resend/", views.invitation_resend, name="invitation_resend"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("transfer/", views.org_transfer, name="org_transfer"),
    path("delete/", views.org_delete, name="org_delete"),
    path("audit/", views.org_audit, name="org_audit"),
    path("audit/export.csv", views.org_audit_export, name="org_audit_export"),
    path("api-keys/", views_api_keys.api_key_list, name="api_key_list"),
    path("api-keys/new/", views_api_keys.api_key_create, name="api_key_create"),
    path("api-keys/<int:key_id>/rotate/", views_api_keys.api_key_rotate, name="api_key_rotate"),
    path("api-keys/<int:key_id>/revoke/", views_api_keys.api_key_revoke, name="api_key_revoke"),
    path("", include(webhook_urls.org_patterns)),
]

urlpatterns = [
    path("app/", views.app_home, name="app_home"),
    path("orgs/", views.organization_list, name="organization_list"),
    path("o/<slug:org_slug>/", include(org_patterns)),
    path("invitations/<str:token>/", views.invitation_detail, name="invitation_detail"),
    path("invitations/<str:token>/accept/", views.invitation_accept, name="invitation_accept"),
    path("invitations/<str:token>/decline/", views.invitation_decline, name="invitation_decline"),
    path("account/security/", views.account_security, name="account_security"),
    path("account/sessions/<int:session_id>/end/", views.session_end, name="account_session_end"),
    path("account/api-keys/revoke-all/", views.account_api_keys_revoke_all, name="account_api_keys_revoke_all"),
    path("account/delete/", views.account_delete, name="account_delete"),
    path("account/theme/", views.theme_set, name="theme_set"),
]
