//! `#[derive(Nested)]`: exposes each serialized field's type and JSON name, so a nested
//! `cursor` path (`"meta.updated_at"`) can name the type it reaches, and the struct's name and
//! field names, so a segment that names no field is reported in words.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::{Field, Record};
use crate::errors::Errors;

/// The impls, or the errors when the item is not a struct with named fields.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let Some(record) = Record::from_input(input, "derive(Nested)", &mut errors) else {
        return errors.to_compile_errors();
    };
    let private = quote!(::tidemark::__private);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let unraw = |ident: &syn::Ident| {
        let name = ident.to_string();
        name.strip_prefix("r#").unwrap_or(&name).to_owned()
    };
    let str = quote!(#private::core::primitive::str);
    let struct_name = unraw(ident);
    let serialized: Vec<&Field<'_>> = record
        .fields
        .iter()
        .filter(|field| !field.skipped)
        .collect();
    let names: Vec<String> = serialized.iter().map(|field| unraw(field.ident)).collect();
    let fields = serialized.iter().zip(&names).map(|(field, name)| {
        let member = field.ident;
        let ty = field.ty;
        let json = &field.json_name;
        quote! {
            #[automatically_derived]
            impl #impl_generics #private::Field<{ #private::field_id(#name) }>
                for #ident #ty_generics #where_clause
            {
                type Type = #ty;
                const JSON_NAME: &'static #str = #json;

                fn get(&self) -> &Self::Type {
                    &self.#member
                }
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Nested for #ident #ty_generics #where_clause {
            const NAME: &'static #str = #struct_name;
            const FIELDS: &'static [&'static #str] = &[#(#names),*];
        }

        #(#fields)*
    }
}
