"""Routes for analysts and editors: login, logging and reviewing updates, history, restore, undo."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import staff_views as views

urlpatterns = [
    # Staff login, with the site's look. Logging out is a POST (the nav has a small form).
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("staff/", views.StaffHomeView.as_view(), name="staff_home"),
    # Analysts
    path("commitments/<slug:slug>/log/", views.UpdateCreateView.as_view(), name="update_create"),
    path("my/updates/", views.MyUpdatesView.as_view(), name="my_updates"),
    path("staff/updates/<int:pk>/edit/", views.UpdateEditView.as_view(), name="update_edit"),
    path("staff/updates/<int:pk>/submit/", views.UpdateSubmitView.as_view(), name="update_submit"),
    # Editors
    path("review/", views.ReviewQueueView.as_view(), name="review_queue"),
    path("staff/updates/<int:pk>/publish/", views.UpdatePublishView.as_view(), name="update_publish"),
    path("staff/updates/<int:pk>/return/", views.UpdateReturnView.as_view(), name="update_return"),
    path("staff/updates/<int:pk>/correct/", views.UpdateCorrectView.as_view(), name="update_correct"),
    path("staff/updates/<int:pk>/delete/", views.UpdateDeleteView.as_view(), name="update_delete"),
    path("staff/updates/<int:pk>/undelete/", views.UpdateUndeleteView.as_view(), name="update_undelete"),
    path("staff/updates/<int:pk>/history/", views.UpdateHistoryView.as_view(), name="update_history"),
    path(
        "staff/updates/<int:pk>/history/<int:history_id>/restore/",
        views.UpdateRestoreView.as_view(),
        name="update_restore",
    ),
    path("staff/commitments/<slug:slug>/history/", views.CommitmentHistoryView.as_view(), name="commitment_history"),
    path(
        "staff/commitments/<slug:slug>/history/<int:history_id>/restore/",
        views.CommitmentRestoreView.as_view(),
        name="commitment_restore",
    ),
    path("staff/commitments/<slug:slug>/delete/", views.CommitmentDeleteView.as_view(), name="commitment_delete"),
    path("staff/commitments/<slug:slug>/undelete/", views.CommitmentUndeleteView.as_view(), name="commitment_undelete"),
    path("staff/deleted/", views.DeletedItemsView.as_view(), name="deleted_items"),
    path("staff/links/", views.LinkProblemsView.as_view(), name="link_problems"),
    # Readers' suggestions (analysts)
    path("staff/suggestions/", views.SuggestionQueueView.as_view(), name="suggestion_queue"),
    path("staff/suggestions/<int:pk>/", views.SuggestionDetailView.as_view(), name="suggestion_detail"),
    path("staff/jobs/", views.JobsView.as_view(), name="staff_jobs"),
]
