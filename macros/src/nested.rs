//! `#[derive(Nested)]`: exposes each serialized field's type and JSON name, so a nested
//! `cursor` path (`"meta.updated_at"`) can name the type it reaches.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::Record;
use crate::errors::Errors;

/// The impls, or the errors when the item is not a struct with named fields.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let Some(record) = Record::from_input(input, &mut errors) else {
        return errors.to_compile_errors();
    };
    let private = quote!(::tidemark::__private);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let fields = record
        .fields
        .iter()
        .filter(|field| !field.skipped)
        .map(|field| {
            let name = field.ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
            let member = field.ident;
            let ty = field.ty;
            let json = &field.json_name;
            quote! {
                #[automatically_derived]
                impl #impl_generics #private::Field<{ #private::field_id(#name) }>
                    for #ident #ty_generics #where_clause
                {
                    type Type = #ty;
                    const JSON_NAME: &'static #private::core::primitive::str = #json;

                    fn get(&self) -> &Self::Type {
                        &self.#member
                    }
                }
            }
        });
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Nested for #ident #ty_generics #where_clause {}

        #(#fields)*
    }
}
