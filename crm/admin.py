from django.contrib import admin

from .models import Deal, Lead, Organization, Person, PersonEmail, Project


class PersonEmailInline(admin.TabularInline):
    model = PersonEmail
    extra = 1
    exclude = ("company",)


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "company")
    search_fields = ("name", "emails__email")
    inlines = (PersonEmailInline,)

    def save_formset(self, request, form, formset, change):  # type: ignore[no-untyped-def]
        for obj in formset.save(commit=False):
            obj.company = form.instance.company
            obj.save()
        formset.save_m2m()


for model in (Organization, Deal, Lead, Project):
    admin.site.register(model)
