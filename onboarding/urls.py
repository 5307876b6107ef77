from django.urls import path

from onboarding import views

app_name = "onboarding"

urlpatterns = [
    path("", views.start, name="start"),
    path("<int:step>/", views.step_view, name="step"),
    path("back/", views.back, name="back"),
    path("finish/", views.finish, name="finish"),
    path("dismiss/", views.dismiss, name="dismiss"),
    path("2/suggestion/", views.suggestion, name="suggestion"),
    path("3/explanation/", views.explanation, name="explanation"),
    path("5/progress/", views.progress, name="progress"),
]
